import java.util.Scanner;

public class Double {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        long n = in.nextLong();
        System.out.println(2 * n);
    }
}
