// pgjdbc over TLS with sslmode=verify-full and a password: the node's
// certificate is checked against the CA and its host name.
// Usage: java -cp /usr/share/java/postgresql.jar TlsJdbc.java PORT CA_FILE PASSWORD
import java.sql.*;

public class TlsJdbc {
    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://localhost:" + args[0] + "/stemedb?user=stemedb"
                + "&sslmode=verify-full&sslrootcert=" + args[1] + "&password=" + args[2];
        try (Connection c = DriverManager.getConnection(url);
             PreparedStatement s = c.prepareStatement("SELECT ?::int + 1")) {
            s.setInt(1, 41);
            try (ResultSet r = s.executeQuery()) {
                if (!r.next() || r.getInt(1) != 42) throw new AssertionError("42");
            }
        }
        System.out.println("tls jdbc: ok");
    }
}
