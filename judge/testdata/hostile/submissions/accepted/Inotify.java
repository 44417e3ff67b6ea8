// A WatchService (inotify) on a read-only toolchain folder.
import java.nio.file.*;
import java.util.*;

public class Inotify {
    public static void main(String[] args) {
        try {
            WatchService ws = FileSystems.getDefault().newWatchService();
            Paths.get("/usr/bin").register(ws, StandardWatchEventKinds.ENTRY_CREATE);
            System.out.println("LEAK inotify watch");
            return;
        } catch (Exception | Error e) {
            // blocked
        }
        Scanner in = new Scanner(System.in);
        int t = in.nextInt();
        for (int i = 0; i < t; i++) System.out.println(in.nextLong() + in.nextLong());
    }
}
