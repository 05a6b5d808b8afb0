// The seed's hello-java: answers every HTTP request with a greeting that names its version and
// allocation, on the port Nomad gives it ($NOMAD_PORT_http). Built by scripts/build-local-images.
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

public class HelloServer {
    public static void main(String[] args) throws Exception {
        String version = args.length > 0 ? args[0] : "v1";
        int port = Integer.parseInt(System.getenv().getOrDefault("NOMAD_PORT_http", "8080"));
        String alloc = System.getenv().getOrDefault("NOMAD_ALLOC_ID", "local");
        HttpServer server = HttpServer.create(new InetSocketAddress(port), 0);
        server.createContext("/", exchange -> {
            byte[] body = ("hello from java " + version + " (alloc " + alloc + ")\n")
                .getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
        System.out.println("hello-java " + version + " listening on " + port);
    }
}
