"""The seed's way, re-created as the baseline for figures 2 and 4 (never used by the product).

The original demo answered ``POST /predict`` (the image bytes as the body) inside the request: full
PIL decode, torchvision resize + centre crop + normalise, PyTorch eager NCHW on one image. It was a
single-threaded stdlib HTTP server, one image per request.

    python bench/seed_server.py --artifact PATH --port 8765
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import torch
from PIL import Image
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifier.inference.artifact import load_artifact  # noqa: E402
from classifier.inference.factory import create_model  # noqa: E402


def build(artifact_path: str):
    artifact = load_artifact(artifact_path, expected_sha256=None)
    model = create_model(artifact.meta["arch"], num_classes=int(artifact.meta["num_classes"]))
    model.load_state_dict(artifact.state_dict)
    model.eval()
    pre = artifact.preprocess
    transform = transforms.Compose(
        [
            transforms.Resize(pre.img_size),
            transforms.CenterCrop(pre.img_size),
            transforms.ToTensor(),
            transforms.Normalize(pre.mean, pre.std),
        ]
    )
    return model, transform


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    model, transform = build(args.artifact)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 — http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            img = Image.open(io.BytesIO(body)).convert("RGB")
            with torch.no_grad():
                logit = model(transform(img).unsqueeze(0))[0, 0].item()
            out = json.dumps({"melanoma_probability": float(torch.sigmoid(torch.tensor(logit)))}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    HTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
