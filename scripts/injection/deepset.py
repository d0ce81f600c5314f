"""Reads deepset/prompt-injections (Apache-2.0) from the parquet files kept in
github:sinanw/llm-security-prompt-injection (data/raw/*.parquet) and writes
deepset-train.jsonl and deepset-test.jsonl into the given directory.

    python3 scripts/injection/deepset.py <repo clone> <out dir>    # needs pyarrow
"""
import json
import pathlib
import sys

import pyarrow.parquet as pq

repo, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for part in ("train", "test"):
    [src] = list((repo / "data" / "raw").glob(f"{part}-*.parquet"))
    with open(out / f"deepset-{part}.jsonl", "w", encoding="utf-8") as f:
        for row in pq.read_table(src).to_pylist():
            f.write(json.dumps({"text": row["text"], "label": int(row["label"])}, ensure_ascii=False) + "\n")
