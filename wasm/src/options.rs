//! Reading the plain option objects JavaScript callers pass (`{ maxFrame: 3999, ... }`).
//!
//! Keys are camelCase. An unknown key is a `TypeError` rather than silently ignored, so that a
//! typo (or the protocol's snake_case `max_frame`) does not leave a limit at its default.
//! Numbers must be non-negative safe integers within the field's range.

use std::str::FromStr;

use invsync_codec::Method;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::js_error::{range_error, type_error};

/// Largest integer a JavaScript number holds exactly.
pub(crate) const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// An options object (or `undefined` / `null`, read as `{}`), checked against its known keys.
pub(crate) struct JsOptions {
    object: Option<Object>,
    what: &'static str,
}

impl JsOptions {
    /// Checks that `value` is `undefined`, `null` or a plain object whose keys are all `known`.
    pub(crate) fn new(
        value: &JsValue,
        what: &'static str,
        known: &[&str],
    ) -> Result<Self, JsValue> {
        if value.is_undefined() || value.is_null() {
            return Ok(JsOptions { object: None, what });
        }
        if !value.is_object() || Array::is_array(value) || value.is_function() {
            return Err(type_error(&format!(
                "{what} must be an object, got {}",
                type_name(value)
            )));
        }
        let object: Object = value.clone().unchecked_into();
        for key in Object::keys(&object).iter() {
            let key = key.as_string().unwrap_or_default();
            if !known.contains(&key.as_str()) {
                return Err(type_error(&format!(
                    "{what} has an unknown key `{key}` (expected one of: {})",
                    known.join(", ")
                )));
            }
        }
        Ok(JsOptions {
            object: Some(object),
            what,
        })
    }

    /// The value under `key`, or `None` when it is absent or `undefined`.
    pub(crate) fn get(&self, key: &str) -> Result<Option<JsValue>, JsValue> {
        let Some(object) = &self.object else {
            return Ok(None);
        };
        let value = Reflect::get(object, &JsValue::from_str(key))?;
        Ok((!value.is_undefined()).then_some(value))
    }

    /// An integer option in `0..=max`.
    pub(crate) fn uint(&self, key: &str, max: u64) -> Result<Option<u64>, JsValue> {
        self.get(key)?
            .map(|v| to_uint(&v, &self.name(key), max))
            .transpose()
    }

    /// A length or count option, saturated to `usize` (32 bits in wasm: beyond is "no limit").
    pub(crate) fn len(&self, key: &str) -> Result<Option<usize>, JsValue> {
        Ok(self
            .uint(key, MAX_SAFE_INTEGER)?
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
    }

    /// An integer option in `0..=max` that may be `null` ("no limit"): `Some(None)` for `null`.
    pub(crate) fn uint_or_null(&self, key: &str, max: u64) -> Result<Option<Option<u64>>, JsValue> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) if v.is_null() => Ok(Some(None)),
            Some(v) => to_uint(&v, &self.name(key), max).map(|n| Some(Some(n))),
        }
    }

    /// A string option.
    pub(crate) fn string(&self, key: &str) -> Result<Option<String>, JsValue> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => v.as_string().map(Some).ok_or_else(|| {
                type_error(&format!(
                    "{} must be a string, got {}",
                    self.name(key),
                    type_name(&v)
                ))
            }),
        }
    }

    /// A list of methods: an array of names, or one comma-separated string (`"raw,zlib"`).
    pub(crate) fn methods(&self, key: &str) -> Result<Option<Vec<Method>>, JsValue> {
        let Some(value) = self.get(key)? else {
            return Ok(None);
        };
        let name = self.name(key);
        let names: Vec<String> = if let Some(list) = value.as_string() {
            list.split(',').map(|s| s.trim().to_string()).collect()
        } else if Array::is_array(&value) {
            let array: Array = value.unchecked_into();
            array
                .iter()
                .map(|v| {
                    v.as_string().ok_or_else(|| {
                        type_error(&format!(
                            "{name} must hold method names, found {}",
                            type_name(&v)
                        ))
                    })
                })
                .collect::<Result<_, _>>()?
        } else {
            return Err(type_error(&format!(
                "{name} must be an array of method names or a comma-separated string, got {}",
                type_name(&value)
            )));
        };
        let mut methods = Vec::new();
        for n in names.iter().filter(|n| !n.is_empty()) {
            let m = Method::from_str(n).map_err(|e| range_error(&format!("{name}: {e}")))?;
            if !methods.contains(&m) {
                methods.push(m);
            }
        }
        if methods.is_empty() {
            return Err(range_error(&format!("{name} names no method")));
        }
        Ok(Some(methods))
    }

    fn name(&self, key: &str) -> String {
        format!("{}.{key}", self.what)
    }
}

/// `value` as an integer in `0..=max` (`max` at most [`MAX_SAFE_INTEGER`]).
pub(crate) fn to_uint(value: &JsValue, what: &str, max: u64) -> Result<u64, JsValue> {
    let Some(n) = value.as_f64() else {
        return Err(type_error(&format!(
            "{what} must be a number, got {}",
            type_name(value)
        )));
    };
    let max = max.min(MAX_SAFE_INTEGER);
    if n.is_finite() && n.fract() == 0.0 && n >= 0.0 && n <= max as f64 {
        Ok(n as u64)
    } else {
        // The number is printed by JavaScript: Rust's float formatter would cost 20 kB of wasm.
        let shown = js_sys::Number::from(n)
            .to_string_with_radix(10)
            .map(String::from)
            .unwrap_or_default();
        Err(range_error(&format!(
            "{what} must be an integer in 0..={max}, got {shown}"
        )))
    }
}

/// The `typeof` of a value, with `null` and arrays told apart, for error messages.
pub(crate) fn type_name(value: &JsValue) -> String {
    if value.is_null() {
        "null".into()
    } else if Array::is_array(value) {
        "array".into()
    } else {
        value.js_typeof().as_string().unwrap_or_default()
    }
}
