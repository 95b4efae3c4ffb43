"""Request validation against the official OpenAPI (KSeF API 2.6 + the 2.7 additions).

``contract.json`` (next to this file) holds, per operation the emulator knows, the parameters
and request-body schemas of the ministry's OpenAPI document with every ``$ref`` they reach
(descriptions and examples stripped); ``build_contract(document)`` makes it and a core test
checks that the embedded copy equals what the official file gives, so the emulator needs no
OpenAPI file at run time. ``validate_request(request)`` checks path, query and header
parameters and a JSON body the way KSeF does before an operation runs: a violation is a 400
with exception code 21405 ("Błąd walidacji danych wejściowych.") and the reasons in details.
"""
import base64
import datetime
import json
import os
import re

from .common import ApiError

CONTRACT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "contract.json")
_KEEP = {"type", "format", "nullable", "enum", "required", "properties", "items", "allOf",
         "oneOf", "anyOf", "$ref", "minLength", "maxLength", "pattern", "minimum", "maximum",
         "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems", "uniqueItems",
         "additionalProperties"}
_INT_RANGE = {"int32": (-2 ** 31, 2 ** 31 - 1), "int64": (-2 ** 63, 2 ** 63 - 1)}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _strip(node):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key not in _KEEP:
                continue
            if key == "properties":
                out[key] = {name: _strip(sub) for name, sub in value.items()}
            elif key == "additionalProperties" and isinstance(value, bool):
                out[key] = value
            elif key in ("enum", "required"):
                out[key] = value
            else:
                out[key] = _strip(value)
        return out
    if isinstance(node, list):
        return [_strip(item) for item in node]
    return node


def _refs(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for item in node:
            _refs(item, found)


def build_contract(document, operations):
    """The contract of ``operations`` [(METHOD, template), ...] from an OpenAPI document."""
    ops = {}
    for method, template in operations:
        item = document["paths"].get(template) or {}
        op = item.get(method.lower())
        if op is None:
            continue
        params = {}
        for param in list(item.get("parameters") or []) + list(op.get("parameters") or []):
            params[(param["in"], param["name"])] = {
                "name": param["name"], "in": param["in"],
                "required": bool(param.get("required") or param["in"] == "path"),
                "schema": _strip(param.get("schema") or {})}
        security = op.get("security", document.get("security")) or []
        table = ((op.get("responses") or {}).get("400") or {}).get("description") or ""
        codes = sorted({int(c) for c in re.findall(r"^\|\s*(\d+)\s*\|", table, re.M)})
        entry = {"parameters": sorted(params.values(), key=lambda p: (p["in"], p["name"])),
                 "secured": any(bool(requirement) for requirement in security),
                 "codes400": codes}
        body = op.get("requestBody")
        if body:
            entry["body"] = {"required": bool(body.get("required")),
                             "content": {mt: _strip(c.get("schema") or {})
                                         for mt, c in sorted(body.get("content", {}).items())}}
        ops["%s %s" % (method, template)] = entry
    schemas, todo = {}, set()
    _refs(ops, todo)
    all_schemas = document["components"]["schemas"]
    while todo:
        name = todo.pop()
        if name in schemas:
            continue
        schemas[name] = _strip(all_schemas[name])
        more = set()
        _refs(schemas[name], more)
        todo |= more - set(schemas)
    return {"operations": ops, "schemas": dict(sorted(schemas.items()))}


_CACHE = {}

#: violations for which an operation's 400 table in the OpenAPI names its own exception code
#: (instead of the generic 21405): operation -> [(regex on the first problem, code)]
SPECIFIC_CODES = {
    "POST /sessions/batch": [(r"\$\.batchFile\.fileParts: maksymalna liczba", 21161)],
}


def contract():
    if "contract" not in _CACHE:
        with open(CONTRACT_FILE, encoding="utf-8") as handle:
            _CACHE["contract"] = json.load(handle)
    return _CACHE["contract"]


# --- a small validator for the OpenAPI 3.0 schema keywords the KSeF document uses -------------
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _valid_format(fmt, value):
    if fmt == "date-time":
        if not _DATE_TIME.match(value):
            return False
        try:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return False
        return True
    if fmt == "date":
        if not _DATE.match(value):
            return False
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            return False
        return True
    if fmt == "byte":
        try:
            base64.b64decode(value, validate=True)
        except (ValueError, TypeError):
            return False
        return True
    return True


class _Validator:
    def __init__(self, schemas):
        self.schemas = schemas

    def errors(self, schema, value, where):
        out = []
        self._check(schema, value, where, out)
        return out

    def _check(self, schema, value, where, out):
        if "$ref" in schema:
            self._check(self.schemas[schema["$ref"].rsplit("/", 1)[-1]], value, where, out)
            return
        if value is None:
            if schema.get("nullable") or not any(
                    key in schema for key in ("type", "allOf", "oneOf", "anyOf", "enum")):
                return
            out.append("%s: wartość nie może być null." % where)
            return
        for sub in schema.get("allOf") or []:
            self._check(sub, value, where, out)
        for key in ("oneOf", "anyOf"):
            if schema.get(key) and not any(not self.errors(sub, value, where) for sub in schema[key]):
                out.append("%s: wartość nie pasuje do żadnego z dozwolonych wariantów." % where)
        kind = schema.get("type")
        if kind and not self._type_ok(kind, value):
            out.append("%s: oczekiwano typu %s." % (where, kind))
            return
        if "enum" in schema and value not in schema["enum"]:
            out.append("%s: niedozwolona wartość %r (dozwolone: %s)."
                       % (where, value, ", ".join(str(v) for v in schema["enum"] if v is not None)))
        if isinstance(value, str):
            if "minLength" in schema and len(value) < schema["minLength"]:
                out.append("%s: minimalna długość to %d." % (where, schema["minLength"]))
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                out.append("%s: maksymalna długość to %d." % (where, schema["maxLength"]))
            if "pattern" in schema and not re.search(schema["pattern"], value):
                out.append("%s: wartość nie pasuje do wzorca %s." % (where, schema["pattern"]))
            if "format" in schema and not _valid_format(schema["format"], value):
                out.append("%s: nieprawidłowy format (%s)." % (where, schema["format"]))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            low, high = _INT_RANGE.get(schema.get("format"), (None, None))
            if kind == "integer" and low is not None and not low <= value <= high:
                out.append("%s: wartość poza zakresem %s." % (where, schema["format"]))
            if "minimum" in schema and (value < schema["minimum"] or (
                    schema.get("exclusiveMinimum") is True and value == schema["minimum"])):
                out.append("%s: wartość mniejsza niż minimum %s." % (where, schema["minimum"]))
            if "maximum" in schema and (value > schema["maximum"] or (
                    schema.get("exclusiveMaximum") is True and value == schema["maximum"])):
                out.append("%s: wartość większa niż maksimum %s." % (where, schema["maximum"]))
        if isinstance(value, list):
            if "minItems" in schema and len(value) < schema["minItems"]:
                out.append("%s: minimalna liczba elementów to %d." % (where, schema["minItems"]))
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                out.append("%s: maksymalna liczba elementów to %d." % (where, schema["maxItems"]))
            if "items" in schema:
                for index, item in enumerate(value):
                    self._check(schema["items"], item, "%s[%d]" % (where, index), out)
        if isinstance(value, dict):
            for name in schema.get("required") or []:
                if name not in value:
                    out.append("%s.%s: pole jest wymagane." % (where, name))
            props = schema.get("properties") or {}
            for name, item in value.items():
                if name in props:
                    self._check(props[name], item, "%s.%s" % (where, name), out)
                elif schema.get("additionalProperties") is False:
                    out.append("%s.%s: nieznane pole." % (where, name))
                elif isinstance(schema.get("additionalProperties"), dict):
                    self._check(schema["additionalProperties"], item, "%s.%s" % (where, name), out)

    @staticmethod
    def _type_ok(kind, value):
        if kind == "string":
            return isinstance(value, str)
        if kind == "integer":
            return isinstance(value, int) and not isinstance(value, bool) or (
                isinstance(value, float) and value.is_integer())
        if kind == "number":
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind == "boolean":
            return isinstance(value, bool)
        if kind == "array":
            return isinstance(value, list)
        if kind == "object":
            return isinstance(value, dict)
        return True


def _coerce(schema, schemas, raw):
    """A query/header/path string as the value its schema describes (or the string itself,
    which then fails the type check)."""
    while "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    kind = schema.get("type")
    if kind == "integer" and re.fullmatch(r"[+-]?\d+", raw.strip()):
        return int(raw)
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            return raw
    if kind == "boolean" and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    return raw


#: 400 exception codes the ministry documents for an operation outside the OpenAPI file's own
#: table (shared/ksef/API-2.7-2.9.md, collective identifiers: 71004 invoices of different
#: sellers, 71005 the same KSeF number twice in one request)
EXTRA_CODES = {"POST /collective-identifiers": (71004, 71005)}


def documented_error(err, method, template):
    """A handler's 400 as the spec documents it for this operation: its own exception code when
    the operation's 400 table lists it, else the generic 21405 (validation) with the specific
    reason kept in the details (only where the table lists 21405 itself: GET /auth/{ref},
    /auth/token/redeem and /auth/token/refresh list only their own codes)."""
    op = contract()["operations"].get("%s %s" % (method, template))
    key = "%s %s" % (method, template)
    if err.status != 400 or op is None or 21405 not in (op.get("codes400") or ()) \
            or err.code in op["codes400"] or err.code in EXTRA_CODES.get(key, ()):
        return err
    details = [d for d in [err.description] + list(err.details or []) if d]
    return ApiError(400, 21405, details=details)


def requires_token(method, template):
    """Whether the spec puts the operation behind a bearer token (``security``)."""
    op = contract()["operations"].get("%s %s" % (method, template))
    return bool(op and op.get("secured"))


def validate_request(req, method, template):
    """Raise ApiError(400, 21405) when ``req`` violates the operation's OpenAPI contract.
    Messages start with where the problem is: ``$.field`` (JSON body), ``query.name``,
    ``path.name``, ``header.name``."""
    data = contract()
    op = data["operations"].get("%s %s" % (method, template))
    if op is None:
        return
    validator = _Validator(data["schemas"])
    problems = []
    for param in op["parameters"]:
        name, where, schema = param["name"], param["in"], param["schema"]
        if where == "path":
            values = [req.params.get(name)] if req.params.get(name) is not None else []
        elif where == "query":
            values = req.query.get(name) or []
        elif where == "header":
            values = req.headers.get_all(name) or [] if hasattr(req.headers, "get_all") else (
                [req.headers[name]] if name in req.headers else [])
        else:
            continue
        label = "%s.%s" % (where, name)
        if not values:
            if param["required"]:
                problems.append("%s: parametr jest wymagany." % label)
            continue
        resolved = schema
        while "$ref" in resolved:
            resolved = data["schemas"][resolved["$ref"].rsplit("/", 1)[-1]]
        if resolved.get("type") == "array":
            value = [_coerce(resolved.get("items") or {}, data["schemas"], v) for v in values]
        elif len(values) > 1:
            problems.append("%s: parametr podany więcej niż raz." % label)
            continue
        else:
            value = _coerce(schema, data["schemas"], values[0])
        problems += validator.errors(schema, value, label)
    body = op.get("body")
    if body and "application/json" in body["content"]:
        ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if req.body or body["required"]:
            if ctype and ctype != "application/json" and not ctype.endswith("+json") \
                    and len(body["content"]) == 1:
                problems.append("Nieobsługiwany typ treści %s (oczekiwano application/json)."
                                % ctype)
            else:
                try:
                    value = json.loads(req.body.decode("utf-8")) if req.body else None
                except (ValueError, UnicodeDecodeError):
                    problems.append("Treść żądania nie jest poprawnym JSON.")
                else:
                    if value is None and body["required"]:
                        problems.append("Brak treści żądania (JSON).")
                    elif value is not None:
                        problems += validator.errors(body["content"]["application/json"],
                                                     value, "$")
    if problems:
        code = 21405
        for pattern, specific in SPECIFIC_CODES.get("%s %s" % (method, template), ()):
            if re.match(pattern, problems[0]):
                code = specific
                break
        raise ApiError(400, code, details=problems[:20])
