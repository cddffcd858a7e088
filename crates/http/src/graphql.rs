//! A small, lenient GraphQL executor for the operations numerapi sends.
//!
//! Documents are parsed by `async-graphql-parser`. Execution is ours, because numerapi's
//! documents break GraphQL's validation rules in ways a schema-checked server must refuse:
//! `releaseStake` declares `$drain: bool!` (no such type), the same argument is declared
//! `String`, `String!` and `ID!` by different methods, and `v3UserProfile` is called with both
//! `model_name:` and `modelName:`. Here a variable's declared type is not checked at all; each
//! root field's resolver reads its arguments by name with forgiving conversions ([`Args`]).
//!
//! A resolver returns the whole JSON value of its field; [`execute`] then keeps only what the
//! selection asks for (with aliases) and names any field that does not exist. Resolvers look
//! at [`Selection::wants`] to skip expensive parts nobody asked for. Queries and mutations go
//! to the same resolver (numerapi sends `submission_upload_auth` as a query).

use async_graphql_parser::Positioned;
use async_graphql_parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationDefinition, Selection as Item,
    SelectionSet,
};
use async_graphql_value::{ConstValue, Name};
use serde_json::{Map, Value, json};

/// A request body: `{"query": …, "variables": {…}, "operationName": …}`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The document.
    #[serde(default)]
    pub query: String,
    /// Variables (numerapi sends nulls for absent ones).
    #[serde(default)]
    pub variables: Option<Map<String, Value>>,
    /// Which operation to run when the document has several.
    #[serde(default)]
    pub operation_name: Option<String>,
}

/// A field's arguments, with the request's variables substituted.
#[derive(Debug, Clone, Default)]
pub struct Args(Map<String, Value>);

impl Args {
    /// The first of `names` given and not null, as text (numbers are written out).
    pub fn text(&self, names: &[&str]) -> Option<String> {
        names.iter().find_map(|name| match self.0.get(*name)? {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        })
    }

    /// Like [`Args::text`], but missing is an error naming the argument.
    ///
    /// # Errors
    /// When none of `names` is given.
    pub fn required_text(&self, names: &[&str]) -> Result<String, String> {
        self.text(names)
            .ok_or_else(|| format!("argument `{}` is required", names[0]))
    }

    /// Argument `name` as an integer (a number or a numeric string); `None` when absent or null.
    ///
    /// # Errors
    /// When it is given but is not an integer.
    pub fn int(&self, name: &str) -> Result<Option<i64>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(number)) => number
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("argument `{name}` must be an integer, got {number}")),
            Some(Value::String(text)) => text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("argument `{name}` must be an integer, got {text:?}")),
            Some(other) => Err(format!("argument `{name}` must be an integer, got {other}")),
        }
    }

    /// Argument `name` as a boolean (`true`/`false` or their strings); `None` when absent.
    ///
    /// # Errors
    /// When it is given but is not a boolean.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(Value::String(text)) if text == "true" => Ok(Some(true)),
            Some(Value::String(text)) if text == "false" => Ok(Some(false)),
            Some(other) => Err(format!(
                "argument `{name}` must be true or false, got {other}"
            )),
        }
    }
}

/// The sub-selection of a field: the fields asked for, fragments flattened.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    document: &'a ExecutableDocument,
    sets: &'a [Positioned<SelectionSet>],
}

impl<'a> Selection<'a> {
    fn fields(&self) -> Vec<&'a Field> {
        let mut fields = Vec::new();
        for set in self.sets {
            collect_fields(self.document, &set.node, &mut fields, 0);
        }
        fields
    }

    /// Whether field `name` is asked for.
    pub fn wants(&self, name: &str) -> bool {
        self.fields()
            .iter()
            .any(|field| field.name.node.as_str() == name)
    }
}

fn collect_fields<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    out: &mut Vec<&'a Field>,
    depth: usize,
) {
    if depth > 32 {
        return;
    }
    for item in &set.items {
        match &item.node {
            Item::Field(field) => out.push(&field.node),
            Item::InlineFragment(fragment) => {
                collect_fields(document, &fragment.node.selection_set.node, out, depth + 1);
            }
            Item::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    collect_fields(document, &fragment.node.selection_set.node, out, depth + 1);
                }
            }
        }
    }
}

/// One root field to resolve.
#[derive(Debug)]
pub struct FieldRequest<'a> {
    /// Its name (`rounds`, `create_submission`, …).
    pub name: &'a str,
    /// Its arguments.
    pub args: Args,
    /// What is asked of its value.
    pub selection: Selection<'a>,
}

/// Resolves root fields to JSON values; an `Err` is the message the client sees.
pub trait Resolver {
    /// The value of `field`.
    ///
    /// # Errors
    /// The message for the client: what is wrong and how to fix it.
    fn resolve(&mut self, field: &FieldRequest<'_>) -> Result<Value, String>;
}

/// Limits on a request's shape.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The deepest nesting of selections allowed (numerapi's deepest is 3).
    pub max_depth: usize,
    /// The most root fields in one request.
    pub max_root_fields: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 8,
            max_root_fields: 20,
        }
    }
}

fn failure(message: impl Into<String>) -> Value {
    json!({ "data": null, "errors": [{ "message": message.into() }] })
}

/// Runs `request` and returns the response body (`data`, and `errors` if any).
pub fn execute(request: &Request, limits: Limits, resolver: &mut dyn Resolver) -> Value {
    let document = match async_graphql_parser::parse_query(&request.query) {
        Ok(document) => document,
        Err(error) => return failure(format!("the query does not parse: {error}")),
    };
    let operation = match pick_operation(&document, request.operation_name.as_deref()) {
        Ok(operation) => operation,
        Err(message) => return failure(message),
    };
    let depth = selection_depth(
        &document,
        &operation.selection_set.node,
        0,
        limits.max_depth,
    );
    if depth > limits.max_depth {
        return failure(format!(
            "the query nests {depth} levels deep; at most {} are allowed",
            limits.max_depth
        ));
    }
    let variables = request.variables.clone().unwrap_or_default();
    let root = Selection {
        document: &document,
        sets: std::slice::from_ref(&operation.selection_set),
    };
    let fields = root.fields();
    if fields.len() > limits.max_root_fields {
        return failure(format!(
            "the query asks for {} root fields; at most {} are allowed",
            fields.len(),
            limits.max_root_fields
        ));
    }
    let mut data = Map::new();
    let mut errors = Vec::new();
    for field in fields {
        let key = field
            .alias
            .as_ref()
            .map_or(field.name.node.as_str(), |alias| alias.node.as_str())
            .to_owned();
        let value = arguments(field, operation, &variables).and_then(|args| {
            let selection = Selection {
                document: &document,
                sets: std::slice::from_ref(&field.selection_set),
            };
            let request = FieldRequest {
                name: field.name.node.as_str(),
                args,
                selection,
            };
            let value = resolver.resolve(&request)?;
            project(value, &selection, field.name.node.as_str())
        });
        match value {
            Ok(value) => {
                data.insert(key, value);
            }
            Err(message) => {
                errors.push(json!({ "message": message, "path": [key.clone()] }));
                data.insert(key, Value::Null);
            }
        }
    }
    if errors.is_empty() {
        json!({ "data": data })
    } else {
        json!({ "data": data, "errors": errors })
    }
}

fn pick_operation<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Result<&'a OperationDefinition, String> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => Ok(&operation.node),
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .get(&Name::new(name))
            .map(|operation| &operation.node)
            .ok_or_else(|| format!("the document has no operation named {name:?}")),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations
            .values()
            .next()
            .map(|operation| &operation.node)
            .ok_or_else(|| "the document has no operation".to_owned()),
        (DocumentOperations::Multiple(_), None) => {
            Err("the document has several operations; say which in `operationName`".to_owned())
        }
    }
}

fn selection_depth(
    document: &ExecutableDocument,
    set: &SelectionSet,
    depth: usize,
    limit: usize,
) -> usize {
    if depth > limit {
        return depth;
    }
    let mut fields = Vec::new();
    collect_fields(document, set, &mut fields, 0);
    fields
        .iter()
        .map(|field| selection_depth(document, &field.selection_set.node, depth + 1, limit))
        .max()
        .unwrap_or(depth)
}

fn arguments(
    field: &Field,
    operation: &OperationDefinition,
    variables: &Map<String, Value>,
) -> Result<Args, String> {
    let mut args = Map::new();
    for (name, value) in &field.arguments {
        let constant =
            value
                .node
                .clone()
                .into_const_with(|variable| -> Result<ConstValue, String> {
                    if let Some(given) = variables.get(variable.as_str()) {
                        return ConstValue::from_json(given.clone())
                            .map_err(|error| format!("variable ${variable}: {error}"));
                    }
                    Ok(operation
                        .variable_definitions
                        .iter()
                        .find(|definition| definition.node.name.node == variable)
                        .and_then(|definition| definition.node.default_value.clone())
                        .map_or(ConstValue::Null, |value| value.node))
                })?;
        let json = constant
            .into_json()
            .map_err(|error| format!("argument `{}`: {error}", name.node))?;
        args.insert(name.node.to_string(), json);
    }
    Ok(Args(args))
}

/// Keeps what `selection` asks of `value`, under aliases, in the order asked.
fn project(value: Value, selection: &Selection<'_>, parent: &str) -> Result<Value, String> {
    let fields = selection.fields();
    match value {
        Value::Array(items) => items
            .into_iter()
            .map(|item| project(item, selection, parent))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(mut object) => {
            if fields.is_empty() {
                return Err(format!(
                    "`{parent}` is an object: select the fields you want, e.g. `{parent} {{ {} }}`",
                    object.keys().next().map_or("id", String::as_str)
                ));
            }
            let mut out = Map::new();
            for field in fields {
                let name = field.name.node.as_str();
                let key = field
                    .alias
                    .as_ref()
                    .map_or(name, |alias| alias.node.as_str());
                if name == "__typename" {
                    out.insert(key.to_owned(), Value::String(parent.to_owned()));
                    continue;
                }
                let Some(child) = object.get_mut(name).map(Value::take) else {
                    return Err(format!(
                        "Cannot query field \"{name}\" on \"{parent}\"; it has: {}",
                        object.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                };
                let sub = Selection {
                    document: selection.document,
                    sets: std::slice::from_ref(&field.selection_set),
                };
                out.insert(key.to_owned(), project(child, &sub, name)?);
            }
            Ok(Value::Object(out))
        }
        Value::Null => Ok(Value::Null),
        scalar if fields.is_empty() => Ok(scalar),
        _ => Err(format!(
            "`{parent}` is a scalar and has no fields to select"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl Resolver for Echo {
        fn resolve(&mut self, field: &FieldRequest<'_>) -> Result<Value, String> {
            match field.name {
                "rounds" => Ok(json!([{
                    "number": field.args.int("number")?.unwrap_or(-1),
                    "openTime": "2026-01-06T13:00:00Z",
                    "models": [{ "id": "1", "name": "a" }],
                }])),
                "releaseStake" => Ok(json!({
                    "drain": field.args.boolean("drain")?,
                    "modelId": field.args.text(&["modelId"]),
                })),
                "profile" => Ok(json!({
                    "name": field.args.required_text(&["model_name", "modelName"])?,
                })),
                "listDatasets" => Ok(json!(["v1/train.parquet"])),
                other => Err(format!("no field {other}")),
            }
        }
    }

    fn run(query: &str, variables: Value) -> Value {
        let request = Request {
            query: query.to_owned(),
            variables: variables.as_object().cloned(),
            operation_name: None,
        };
        execute(&request, Limits::default(), &mut Echo)
    }

    #[test]
    fn selections_keep_only_what_is_asked_with_aliases() {
        let out = run(
            "query($t: Int!) { rounds(tournament: $t, number: 0) { number when: openTime } }",
            json!({ "t": 8 }),
        );
        assert_eq!(
            out,
            json!({ "data": { "rounds": [{ "number": 0, "when": "2026-01-06T13:00:00Z" }] } })
        );
    }

    #[test]
    fn numerapis_non_standard_variable_types_are_accepted() {
        let out = run(
            "mutation($drain: bool! $amount: String $modelId: String) { releaseStake(drain: $drain modelId: $modelId amount: $amount) { drain modelId } }",
            json!({ "drain": true, "amount": null, "modelId": "7" }),
        );
        assert_eq!(
            out,
            json!({ "data": { "releaseStake": { "drain": true, "modelId": "7" } } })
        );
        for spelling in ["model_name", "modelName"] {
            let query = format!("query($n: String!) {{ profile({spelling}: $n) {{ name }} }}");
            let out = run(&query, json!({ "n": "alice" }));
            assert_eq!(out["data"]["profile"]["name"], "alice");
        }
    }

    #[test]
    fn an_unknown_field_is_named_in_the_error() {
        let out = run("{ rounds(number: 0) { numberr } }", json!({}));
        let message = out["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("numberr"), "{message}");
        assert_eq!(out["data"]["rounds"], Value::Null);
    }

    #[test]
    fn malformed_documents_and_deep_queries_are_refused_with_a_message() {
        let out = run("query { rounds(tournament: 8 ", json!({}));
        assert!(
            out["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("parse")
        );
        let deep = "{ rounds { models { a { b { c { d { e { f { g { h } } } } } } } } } }";
        let out = run(deep, json!({}));
        assert!(
            out["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("levels deep")
        );
    }

    #[test]
    fn objects_need_a_selection_and_scalars_refuse_one() {
        let out = run("{ rounds }", json!({}));
        assert!(
            out["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("select")
        );
        let out = run("{ listDatasets { name } }", json!({}));
        assert!(
            out["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("scalar")
        );
        let out = run("{ listDatasets }", json!({}));
        assert_eq!(out["data"]["listDatasets"][0], "v1/train.parquet");
    }

    #[test]
    fn fragments_are_flattened() {
        let out = run(
            "query { rounds(number: 3) { ...R } } fragment R on Round { number }",
            json!({}),
        );
        assert_eq!(out["data"]["rounds"][0], json!({ "number": 3 }));
    }

    #[test]
    fn a_bad_argument_type_is_an_error_naming_it() {
        let out = run("{ rounds(number: \"x\") { number } }", json!({}));
        assert!(
            out["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("`number`")
        );
    }
}
