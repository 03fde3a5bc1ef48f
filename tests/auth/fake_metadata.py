"""A stand-in for the GCE metadata server's token endpoint, for the auth tests.

GET /computeMetadata/v1/instance/service-accounts/default/token?scopes=... with
`Metadata-Flavor: Google` answers what the real one does ({"access_token", "expires_in",
"token_type"}). The token comes from ee-emulator's own token endpoint (the refresh_token
grant), so the emulator accepts it. mode "proxy" fetches a new one per request; mode
"sticky" keeps handing out the first one (for "a refresh that does not help"). Counts
requests; logs nothing.
"""
import http.server
import json
import threading
import urllib.parse
import urllib.request

PATH = "/computeMetadata/v1/instance/service-accounts/default/token"


class FakeMetadata:
    def __init__(self, token_url, refresh_token, mode="proxy"):
        self.token_url, self.refresh_token, self.mode = token_url, refresh_token, mode
        self.requests = 0
        self.scopes = []
        self.sticky = None
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                if url.path != PATH:
                    return self.reply(404, {"error": "not found"})
                if self.headers.get("Metadata-Flavor") != "Google":
                    return self.reply(403, {"error": "Missing Metadata-Flavor:Google header"})
                with outer.lock:
                    outer.requests += 1
                    outer.scopes.append(urllib.parse.parse_qs(url.query).get("scopes", [""])[0])
                    if outer.mode == "sticky" and outer.sticky:
                        return self.reply(200, outer.sticky)
                    answer = outer.fetch()
                    if outer.mode == "sticky":
                        outer.sticky = answer
                self.reply(200, answer)

            def reply(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = "127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def fetch(self):
        data = urllib.parse.urlencode({
            "grant_type": "refresh_token", "client_id": "metadata",
            "client_secret": "metadata", "refresh_token": self.refresh_token}).encode()
        with urllib.request.urlopen(self.token_url, data, timeout=10) as r:
            return json.loads(r.read())

    def close(self):
        self.server.shutdown()
        self.server.server_close()
