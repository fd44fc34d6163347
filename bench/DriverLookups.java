// Point lookups as pgjdbc sends them, one connection, for SECONDS: a
// PreparedStatement with `?` and the driver's defaults (unnamed statements,
// then a named server-side one after prepareThreshold = 5 executions).
// Prints lookups per second.
// Usage: java -cp /usr/share/java/postgresql.jar DriverLookups.java URL SUBJECTS SECONDS
import java.sql.*;
import java.util.Random;

public class DriverLookups {
    public static void main(String[] args) throws Exception {
        int subjects = Integer.parseInt(args[1]);
        long end = System.nanoTime() + (long) (Double.parseDouble(args[2]) * 1e9);
        Random rng = new Random(11);
        long done = 0, rows = 0;
        try (Connection c = DriverManager.getConnection(args[0]);
             PreparedStatement ps = c.prepareStatement(
                 "SELECT object, source, tier FROM recency WHERE subject = ?")) {
            while (System.nanoTime() < end) {
                for (int i = 0; i < 100; i++) {
                    ps.setString(1, Integer.toString(rng.nextInt(subjects)));
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) rows++;
                    }
                }
                done += 100;
            }
        }
        if (rows == 0) throw new AssertionError("no lookup found a row");
        System.out.printf("%.0f%n", done / Double.parseDouble(args[2]));
    }
}
