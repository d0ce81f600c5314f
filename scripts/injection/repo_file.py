"""A file of a third party's repository: from a clone, or from a bare git directory's HEAD (what
the `fetch` of a snapshot gives). Shared by agentdojo.py and garak.py."""
import os
import subprocess


def read(repo, path):
    if os.path.exists(os.path.join(repo, path)):
        with open(os.path.join(repo, path), encoding="utf-8") as f:
            return f.read()
    return subprocess.run(["git", "--git-dir", repo, "show", f"HEAD:{path}"], check=True, capture_output=True, text=True).stdout
