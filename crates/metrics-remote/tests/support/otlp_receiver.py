"""A minimal OTLP/HTTP metrics receiver for the tests: decodes each
POST body with the official protobuf definitions (PyPI opentelemetry-proto)
and appends one JSON line per metric to the file named by argv[2]. The port
it bound (127.0.0.1, chosen by the OS) is written to argv[1]."""
import http.server
import json
import sys

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms

out = open(sys.argv[2], "a")


def attrs(kvs):
    return {kv.key: kv.value.string_value for kv in kvs}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            req = ms.ExportMetricsServiceRequest.FromString(body)
            for rm in req.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        kind = m.WhichOneof("data")
                        d = getattr(m, kind)
                        rec = {
                            "path": self.path,
                            "content_type": self.headers.get("Content-Type"),
                            "resource": attrs(rm.resource.attributes),
                            "scope": sm.scope.name,
                            "name": m.name,
                            "unit": m.unit,
                            "kind": kind,
                            "temporality": getattr(d, "aggregation_temporality", None),
                            "monotonic": getattr(d, "is_monotonic", None),
                            "points": [],
                        }
                        for p in d.data_points:
                            pt = {
                                "attrs": attrs(p.attributes),
                                "time": p.time_unix_nano,
                                "start": p.start_time_unix_nano,
                            }
                            if kind == "histogram":
                                pt.update(
                                    count=p.count,
                                    sum=p.sum,
                                    buckets=list(p.bucket_counts),
                                    bounds=list(p.explicit_bounds),
                                    has_min=p.HasField("min"),
                                    min=p.min,
                                    max=p.max,
                                )
                            else:
                                pt["value"] = p.as_double
                            rec["points"].append(pt)
                        out.write(json.dumps(rec) + "\n")
            out.flush()
            status, resp = 200, ms.ExportMetricsServiceResponse().SerializeToString()
        except Exception as e:  # a body that does not decode is the failure under test
            out.write(json.dumps({"error": repr(e)}) + "\n")
            out.flush()
            status, resp = 400, repr(e).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(resp)))
        self.end_headers()
        self.wfile.write(resp)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os

os.replace(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
