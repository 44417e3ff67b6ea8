// A user namespace through the unshare tool (uid 0 inside with -r).
import java.io.*;
import java.util.*;

public class UserNS {
    public static void main(String[] args) throws Exception {
        try {
            Process p = new ProcessBuilder("unshare", "-Ur", "id", "-u").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            if (p.waitFor() == 0 && out.equals("0")) {
                System.out.println("LEAK user namespace by unshare -Ur");
                return;
            }
        } catch (IOException e) {
            // no tool, or no process: blocked
        }
        Scanner in = new Scanner(System.in);
        int t = in.nextInt();
        for (int i = 0; i < t; i++) System.out.println(in.nextLong() + in.nextLong());
    }
}
