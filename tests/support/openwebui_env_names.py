"""Every environment variable name OpenWebUI reads, from its own configuration modules
(config.py and env.py of the pinned appVersion), one per line: the literal first argument of
os.getenv / os.environ.get / os.environ[...], and of any function in those files that passes
its own parameter on to them (env.py's small typed readers). Names built at run time are
listed on stderr, so a test can see what this cannot know.

Usage: python3 openwebui_env_names.py config.py env.py
"""

import ast
import sys


def is_os(node, attr):
    return (
        isinstance(node, ast.Attribute)
        and node.attr == attr
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def is_environ_get(func):
    return isinstance(func, ast.Attribute) and func.attr == "get" and is_os(func.value, "environ")


def reads_env(call):
    return isinstance(call, ast.Call) and (is_os(call.func, "getenv") or is_environ_get(call.func))


def main(paths):
    names = set()
    for path in paths:
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        # Functions that read the variable their parameter names: name -> parameter position.
        readers = {}
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            params = [a.arg for a in fn.args.args]
            for call in ast.walk(fn):
                if reads_env(call) and call.args and isinstance(call.args[0], ast.Name):
                    if call.args[0].id in params:
                        readers[fn.name] = params.index(call.args[0].id)
        for node in ast.walk(tree):
            arg = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in readers:
                i = readers[node.func.id]
                arg = node.args[i] if len(node.args) > i else None
            elif reads_env(node):
                arg = node.args[0] if node.args else None
            elif isinstance(node, ast.Subscript) and is_os(node.value, "environ"):
                arg = node.slice
            else:
                continue
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value)
            elif not (isinstance(arg, ast.Name) and any(arg.id == a for a in ("name", "key", "var"))):
                print(f"{path}:{node.lineno}: a name built at run time", file=sys.stderr)
    for n in sorted(names):
        print(n)


if __name__ == "__main__":
    main(sys.argv[1:])
