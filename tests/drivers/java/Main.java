import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;

/**
 * Connects with a real JDBC driver using JDBC_URL exactly as dbarena prints it.
 * Usage: java Main ENGINE; prints {@code jdbc<TAB>1|user|database}.
 */
public class Main {
    public static void main(String[] args) throws Exception {
        String sql = switch (args[0]) {
            case "postgres" -> "SELECT 1, current_user, current_database()";
            case "mysql" -> "SELECT 1, CURRENT_USER(), DATABASE()";
            default -> throw new IllegalArgumentException("unknown engine " + args[0]);
        };
        try (Connection conn = DriverManager.getConnection(System.getenv("JDBC_URL"));
             ResultSet rs = conn.createStatement().executeQuery(sql)) {
            rs.next();
            String user = rs.getString(2);
            // MySQL's CURRENT_USER() is 'name@host'; the name itself may contain '@'.
            if (args[0].equals("mysql")) {
                user = user.substring(0, user.lastIndexOf('@'));
            }
            System.err.println("driver: " + conn.getMetaData().getDriverName() + " " + conn.getMetaData().getDriverVersion());
            System.out.println("jdbc\t" + rs.getInt(1) + "|" + user + "|" + rs.getString(3));
        }
    }
}
