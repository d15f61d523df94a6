//! Custom scalars.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use serde_json::{Map, Value as JsonValue};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JsonObject(pub Map<String, JsonValue>);

/// A JSON object, e.g. `{"loyalty_level": "gold", "points": 120}`. Used for custom field
/// values and channel credentials.
#[Scalar(name = "JSONObject")]
impl ScalarType for JsonObject {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value.into_json() {
            Ok(JsonValue::Object(map)) => Ok(JsonObject(map)),
            _ => Err(InputValueError::custom("Expected a JSON object such as {\"key\": \"value\"}.")),
        }
    }

    fn to_value(&self) -> Value {
        Value::from_json(JsonValue::Object(self.0.clone())).unwrap_or(Value::Null)
    }
}
