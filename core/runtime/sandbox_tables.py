"""Which database tables a tool's code can reach: the worker's opt-in table sharing.

Loaded by path by :mod:`toolfeedback.runtime.sandbox_worker` (stdlib only). With
``share_tables=True`` a basic-mode worker lets episodes share its pristine tables with
tools that :func:`_table_access` finds read-only; every other tool gets the episode's own
copy of each table it reaches.
"""

import ast

#: Methods and module functions that never mutate a JSON-like value (dict, list, str, numbers).
_PURE_ATTRS = frozenset({
    "get", "keys", "values", "items", "copy", "count", "index", "lower", "upper", "strip", "lstrip",
    "rstrip", "split", "rsplit", "join", "startswith", "endswith", "replace", "format", "title",
    "capitalize", "casefold", "isdigit", "isalpha", "isalnum", "isnumeric", "isdecimal", "isspace",
    "islower", "isupper", "find", "rfind", "partition", "rpartition", "zfill", "splitlines",
    "is_integer", "dumps", "deepcopy"})  # not loads (pickle runs code), encode/decode (codecs)
#: The container methods that mutate their receiver.
_MUTATORS = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse",
                       "update", "setdefault", "popitem", "add", "discard"})
#: Builtins that neither mutate an argument nor reach a caller's variables.
_PURE_BUILTINS = frozenset({
    "len", "str", "int", "float", "bool", "list", "dict", "tuple", "set", "frozenset", "sorted",
    "reversed", "min", "max", "sum", "any", "all", "abs", "round", "range", "enumerate", "zip",
    "map", "filter", "isinstance", "repr", "print", "True", "False", "None", "Exception",
    "ValueError", "KeyError", "TypeError", "IndexError", "RuntimeError"})
#: ``from MODULE import NAME`` bindings known to be harmless (typing aliases, copies; not,
#: say, ``typing.get_type_hints``, which evaluates strings).
_PURE_IMPORTS = {"typing": frozenset({"Any", "Dict", "List", "Optional", "Tuple", "Union", "Set",
                                      "FrozenSet", "Callable", "Iterable", "Iterator", "Sequence",
                                      "Mapping", "Literal"}),
                 "copy": frozenset({"deepcopy", "copy"})}
_FRESH = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp, ast.Constant,
          ast.JoinedStr)
_ALL = (None, True)


def _table_access(source):
    """Which top-level tables of ``data`` a tool's code can reach, and whether it may mutate
    anything: ``(tables, mutates)``; ``(None, True)`` (every table reached and written)
    whenever the code could reach the database other than as ``data["literal"]``.

    Deliberately conservative. Only a whitelist of names (pure builtins, the tool's own
    parameters, locals, functions and imported modules, ``typing`` aliases,
    ``copy.deepcopy``) and attributes (pure methods, container mutators) bounds the reached
    tables; ``**kwargs``, ``getattr``, ``locals()``, frames, any other import or attribute
    gives ``(None, True)``. A mutation is any store, delete or augmented assignment through
    a subscript or attribute, or a container mutator, except on local names only ever bound
    to fresh literals (``results = []; results.append(x)``). A tool that reaches tables
    without mutating reads the worker's shared pristine copy; any other tool gets the
    episode's own copies of the tables it reaches first."""
    try:
        tree = ast.parse(source)
    except BaseException:  # noqa: BLE001 - unknown: every table
        return _ALL
    nodes = list(ast.walk(tree))
    parents = {}
    bound = {}  # name -> True while every binding of it is a fresh literal
    impure_imports = set()
    for node in nodes:
        for child in ast.iter_child_nodes(node):
            parents[child] = node
        if isinstance(node, ast.arguments):
            if node.kwarg is not None:
                return _ALL  # **kwargs would receive data unnamed
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound[node.name] = False
        elif isinstance(node, ast.arg):
            bound[node.arg] = False
        elif isinstance(node, ast.Import):
            for alias in node.names:
                bound[(alias.asname or alias.name).partition(".")[0]] = False
        elif isinstance(node, ast.ImportFrom):
            allowed = _PURE_IMPORTS.get(node.module or "", frozenset()) if not node.level else frozenset()
            for alias in node.names:
                name = alias.asname or alias.name
                bound[name] = False
                if alias.name == "*":
                    return _ALL
                if alias.name not in allowed:
                    impure_imports.add(name)
    for node in nodes:
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            parent = parents.get(node)
            fresh = (isinstance(parent, ast.Assign) and node in parent.targets
                     and isinstance(parent.value, _FRESH))
            bound[node.id] = bound.get(node.id, True) and fresh
    fresh_names = {name for name, fresh in bound.items() if fresh}

    def fresh(expr):
        return isinstance(expr, ast.Name) and expr.id in fresh_names

    tables, mutates = set(), False
    for node in nodes:
        parent = parents.get(node)
        if isinstance(node, ast.Name):
            if node.id == "data":
                if not (isinstance(parent, ast.Subscript) and parent.value is node
                        and isinstance(parent.ctx, ast.Load) and isinstance(parent.slice, ast.Constant)
                        and isinstance(parent.slice.value, str)):
                    return _ALL
                tables.add(parent.slice.value)
            elif isinstance(node.ctx, ast.Load) and (
                    node.id in impure_imports or (node.id not in bound and node.id not in _PURE_BUILTINS)):
                return _ALL
        elif isinstance(node, ast.Attribute):
            if node.attr in _MUTATORS:
                mutates = mutates or not fresh(node.value)
            elif node.attr not in _PURE_ATTRS:
                return _ALL
            if not isinstance(node.ctx, ast.Load):
                return _ALL
        elif isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load):
            mutates = mutates or not fresh(node.value)
        elif isinstance(node, ast.AugAssign):
            target = node.target
            mutates = mutates or not (fresh(target) or (isinstance(target, ast.Subscript)
                                                        and fresh(target.value)))
        elif isinstance(node, (ast.Delete, ast.Global, ast.Nonlocal)):
            mutates = True
    return tables, mutates
