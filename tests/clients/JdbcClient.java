// pgjdbc against StemeDB: PreparedStatement reused past the server-prepare
// threshold, batch insert, types, DatabaseMetaData.
// Usage: java -cp /usr/share/java/postgresql.jar JdbcClient.java PORT
import java.sql.*;
import java.util.*;

public class JdbcClient {
    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/stemedb?user=stemedb";
        try (Connection c = DriverManager.getConnection(url)) {
            // Reused past prepareThreshold (5): the driver switches to a named
            // server-side statement and binary transfer.
            try (PreparedStatement ins = c.prepareStatement(
                    "INSERT INTO assertions (subject, predicate, object, source, tier, confidence) VALUES (?, ?, ?, ?, ?, ?)")) {
                for (int i = 0; i < 8; i++) {
                    ins.setString(1, "drug:" + (i % 2));
                    ins.setString(2, "causes");
                    ins.setString(3, "effect-" + i);
                    ins.setString(4, "src-" + i);
                    ins.setShort(5, (short) (i % 6));
                    ins.setDouble(6, 0.5 + i / 100.0);
                    check(ins.executeUpdate() == 1, "insert " + i);
                }
                // Batch insert.
                for (int i = 0; i < 5; i++) {
                    ins.setString(1, "batch:" + i);
                    ins.setString(2, "p");
                    ins.setString(3, "o");
                    ins.setString(4, "s");
                    ins.setShort(5, (short) 2);
                    ins.setDouble(6, 1.0);
                    ins.addBatch();
                }
                int[] counts = ins.executeBatch();
                check(counts.length == 5, "batch of 5");
            }
            try (PreparedStatement q = c.prepareStatement(
                    "SELECT object, tier, confidence, contested, claims, asserted_at FROM authority WHERE subject = ?")) {
                for (int i = 0; i < 8; i++) {
                    q.setString(1, "drug:0");
                    try (ResultSet rs = q.executeQuery()) {
                        check(rs.next(), "a row");
                        check(rs.getString(1).equals("effect-6"), "object " + rs.getString(1)); // tier 0, higher confidence
                        check(rs.getShort(2) == 0, "tier");
                        check(rs.getDouble(3) == 0.56, "confidence " + rs.getDouble(3));
                        check(rs.getBoolean(4), "contested");
                        check(rs.getLong(5) == 4, "claims " + rs.getLong(5));
                        check(rs.getTimestamp(6) != null, "asserted_at");
                        check(!rs.next(), "one row");
                    }
                }
            }
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FROM assertions")) {
                rs.next();
                check(rs.getLong(1) == 13, "13 assertions, got " + rs.getLong(1));
            }
            // Errors carry SQLSTATE; the connection stays usable.
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE assertions SET object = 'x'");
                check(false, "UPDATE must fail");
            } catch (SQLException e) {
                check("0A000".equals(e.getSQLState()), "SQLSTATE " + e.getSQLState());
            }
            // Array parameters (setArray / createArrayOf): `= ANY(?)` over
            // 1 000 subjects returns exactly the rows of the IN list.
            try (Statement s = c.createStatement()) {
                s.executeUpdate("INSERT INTO assertions (subject, predicate, object, source) "
                    + "SELECT 'arr' || x, 'p', 'o' || x, 's' FROM generate_series(1, 1200) AS t(x)");
            }
            String[] subjects = new String[1001];
            StringBuilder inList = new StringBuilder();
            for (int i = 0; i < 1000; i++) {
                subjects[i] = "arr" + (i + 1);
                inList.append("'").append(subjects[i]).append("', ");
            }
            subjects[1000] = "arr-missing";
            inList.append("'arr-missing'");
            List<String> byAny = new ArrayList<>();
            try (PreparedStatement q = c.prepareStatement(
                    "SELECT subject, object FROM recency WHERE subject = ANY(?) ORDER BY subject")) {
                q.setArray(1, c.createArrayOf("text", subjects));
                try (ResultSet rs = q.executeQuery()) {
                    while (rs.next()) byAny.add(rs.getString(1) + "=" + rs.getString(2));
                }
            }
            List<String> byIn = new ArrayList<>();
            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT subject, object FROM recency WHERE subject IN ("
                     + inList + ") ORDER BY subject")) {
                while (rs.next()) byIn.add(rs.getString(1) + "=" + rs.getString(2));
            }
            check(byAny.size() == 1000 && byAny.equals(byIn), "ANY vs IN: " + byAny.size() + " / " + byIn.size());
            try (PreparedStatement q = c.prepareStatement("SELECT ?::text[]")) {
                String[] values = {"a", "b c", null, "", "NULL"};
                q.setArray(1, c.createArrayOf("text", values));
                try (ResultSet rs = q.executeQuery()) {
                    rs.next();
                    check(Arrays.equals((Object[]) rs.getArray(1).getArray(), values), "text[] round trip");
                }
                q.setString(1, "{a,b");
                try {
                    q.executeQuery();
                    check(false, "a malformed array literal must fail");
                } catch (SQLException e) {
                    check("22P02".equals(e.getSQLState()), "SQLSTATE " + e.getSQLState());
                }
            }
            // Metadata.
            DatabaseMetaData md = c.getMetaData();
            check(md.getDatabaseProductName().equals("PostgreSQL"), md.getDatabaseProductName());
            Set<String> tables = new HashSet<>();
            try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) tables.add(rs.getString("TABLE_NAME"));
            }
            check(tables.containsAll(List.of("assertions", "retractions", "recency", "authority", "beliefs", "conflicts")), "tables " + tables);
            Map<String, String> columns = new HashMap<>();
            try (ResultSet rs = md.getColumns(null, "public", "assertions", "%")) {
                while (rs.next()) columns.put(rs.getString("COLUMN_NAME"), rs.getString("TYPE_NAME"));
            }
            check("int2".equals(columns.get("tier")), "tier type " + columns);
            check("timestamptz".equals(columns.get("observed_at")), "observed_at type " + columns);
        }
        System.out.println("pgjdbc: ok");
    }
}
