"""The OpenAPI 3.1 document, generated from the routes and their pydantic schemas."""

from __future__ import annotations

import re

from flask import Flask
from pydantic import BaseModel

from .schemas import Problem

_STANDARD_ERRORS = {
    400: "Malformed request or invalid parameter.",
    403: "Not permitted by the server's settings, such as a model server host off the allow-list.",
    404: "Model, dataset or job not found.",
    422: "Valid request that cannot be used (missing columns, method not applicable).",
    502: "The remote model's server failed, could not be reached, or returned an unusable response.",
    504: "The remote model's server did not respond within the timeout.",
}


def doc(*, summary: str, tag: str, request=None, multipart: dict | None = None,
        query: dict | None = None, responses: dict | None = None, errors=(400, 404, 422)):
    """Attach OpenAPI facts to a view function.

    ``request`` is a pydantic model for a JSON body; ``multipart`` maps form
    field names to (description, is_file, required); ``query`` maps query
    parameter names to (schema, description); ``responses`` maps status
    codes to a pydantic model, or None for an empty body.
    """

    def attach(view):
        view._openapi = {
            "summary": summary, "tag": tag, "request": request, "multipart": multipart,
            "query": query or {}, "responses": responses or {}, "errors": errors,
        }
        return view

    return attach


def _schema_ref(model: type[BaseModel], components: dict) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(spec: dict, rule_path: str, components: dict) -> dict:
    operation = {"summary": spec["summary"], "tags": [spec["tag"]], "responses": {}}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", rule_path)
    ]
    for name, (schema, description) in spec["query"].items():
        parameters.append({"name": name, "in": "query", "required": False, "schema": schema,
                           "description": description})
    if parameters:
        operation["parameters"] = parameters
    if spec["request"] is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema_ref(spec["request"], components)}},
        }
    if spec["multipart"]:
        properties, required = {}, []
        for name, (description, is_file, is_required) in spec["multipart"].items():
            properties[name] = ({"type": "string", "format": "binary"} if is_file else {"type": "string"})
            properties[name]["description"] = description
            if is_required:
                required.append(name)
        operation["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": {
                "type": "object", "properties": properties, "required": required}}},
        }
    for status, model in spec["responses"].items():
        if model is None:
            operation["responses"][str(status)] = {"description": "No content."}
        else:
            operation["responses"][str(status)] = {
                "description": (model.__doc__ or model.__name__).strip().splitlines()[0],
                "content": {"application/json": {"schema": _schema_ref(model, components)}},
            }
    problem_ref = _schema_ref(Problem, components)
    for status in spec["errors"]:
        operation["responses"][str(status)] = {
            "description": _STANDARD_ERRORS.get(status, "Error."),
            "content": {"application/problem+json": {"schema": problem_ref}},
        }
    return operation


def build_openapi(app: Flask) -> dict:
    """Build the document from every route that carries ``doc`` facts."""
    paths: dict = {}
    components: dict = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        view = app.view_functions.get(rule.endpoint)
        spec = getattr(view, "_openapi", None)
        if spec is None:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(spec, path, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Model explanation service",
            "version": "0.1.0",
            "description": "Permutation importance, SHAP, integrated gradients and what-if "
                           "queries for tabular models. Errors are application/problem+json.",
        },
        "paths": paths,
        "components": {"schemas": components},
    }
