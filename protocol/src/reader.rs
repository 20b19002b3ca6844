//! Reading a document straight into a typed model: serde walks the document's objects as it
//! would walk their JSON (text as a string, every scalar as it serializes to JSON), without the
//! JSON tree in between. Building that tree (a map of owned keys per object, then taking it
//! apart again) cost more than walking the document, on every read of a job on both sides.

use automerge::iter::{ListRange, MapRange};
use automerge::{ObjId, ObjType, ROOT, ReadDoc, Value};
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde_json::Error;

use crate::job::MAX_NESTING;

/// One value of a document: an object, read as serde asks for it, or a scalar as JSON.
pub(crate) enum Node<'a, D> {
    /// A map, list or text object `depth` objects below the root.
    Object {
        doc: &'a D,
        id: ObjId,
        typ: ObjType,
        depth: usize,
    },
    /// A scalar, as `serde_json` writes it.
    Scalar(serde_json::Value),
}

fn too_deep() -> Error {
    de::Error::custom(format!("objects nest deeper than {MAX_NESTING} levels"))
}

impl<'a, D: ReadDoc> Node<'a, D> {
    /// The document's root map.
    pub(crate) fn root(doc: &'a D) -> Self {
        Node::Object {
            doc,
            id: ROOT,
            typ: ObjType::Map,
            depth: 0,
        }
    }

    /// A value found `depth` objects below the root; `id` names it when it is an object.
    fn of(
        doc: &'a D,
        value: Value<'_>,
        id: impl FnOnce() -> ObjId,
        depth: usize,
    ) -> Result<Self, Error> {
        match value {
            Value::Object(_) if depth > MAX_NESTING => Err(too_deep()),
            Value::Object(typ) => Ok(Node::Object {
                doc,
                id: id(),
                typ,
                depth,
            }),
            Value::Scalar(scalar) => serde_json::to_value(&*scalar).map(Node::Scalar),
        }
    }

    /// The value as a JSON tree, for the rare request that needs one whole.
    pub(crate) fn into_json(self) -> Result<serde_json::Value, Error> {
        serde::Deserialize::deserialize(self)
    }
}

/// Refuses an object nested deeper than [`MAX_NESTING`] anywhere below `id`, without reading
/// it otherwise: what the model does not read must still not be a hazard to whoever does.
fn check_depth<D: ReadDoc>(doc: &D, id: &ObjId, typ: ObjType, depth: usize) -> Result<(), Error> {
    let nested = |value: Value<'_>, id: ObjId| match value {
        Value::Object(_) if depth + 1 > MAX_NESTING => Err(too_deep()),
        Value::Object(typ) => check_depth(doc, &id, typ, depth + 1),
        Value::Scalar(_) => Ok(()),
    };
    match typ {
        ObjType::Map | ObjType::Table => doc
            .map_range(id, ..)
            .try_for_each(|item| nested(item.value.clone().into_value(), item.id())),
        ObjType::List => doc
            .list_range(id, ..)
            .try_for_each(|item| nested(item.value.clone().into_value(), item.id())),
        ObjType::Text => Ok(()),
    }
}

/// The entries of a map object, as serde reads a JSON object.
struct Entries<'a, D> {
    doc: &'a D,
    items: MapRange<'a>,
    depth: usize,
    value: Option<Node<'a, D>>,
}

impl<'de, D: ReadDoc> MapAccess<'de> for Entries<'_, D> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let key = seed.deserialize(IntoDeserializer::<Error>::into_deserializer(&*item.key))?;
        self.value = Some(Node::of(
            self.doc,
            item.value.clone().into_value(),
            || item.id(),
            self.depth + 1,
        )?);
        Ok(Some(key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("a map value asked for before its key"))?;
        seed.deserialize(value)
    }
}

/// The items of a list object, as serde reads a JSON array.
struct Items<'a, D> {
    doc: &'a D,
    items: ListRange<'a>,
    depth: usize,
}

impl<'de, D: ReadDoc> SeqAccess<'de> for Items<'_, D> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let node = Node::of(
            self.doc,
            item.value.clone().into_value(),
            || item.id(),
            self.depth + 1,
        )?;
        seed.deserialize(node).map(Some)
    }
}

/// Scalars are read exactly as `serde_json` reads their JSON; objects as JSON objects, arrays
/// and strings would be.
macro_rules! as_json {
    ($($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self {
                Node::Scalar(value) => value.$method(visitor),
                object => object.deserialize_any(visitor),
            }
        }
    )*};
}

impl<'de, D: ReadDoc> Deserializer<'de> for Node<'_, D> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let (doc, id, typ, depth) = match self {
            Node::Scalar(value) => return value.deserialize_any(visitor),
            Node::Object {
                doc,
                id,
                typ,
                depth,
            } => (doc, id, typ, depth),
        };
        match typ {
            ObjType::Map | ObjType::Table => visitor.visit_map(Entries {
                doc,
                items: doc.map_range(&id, ..),
                depth,
                value: None,
            }),
            ObjType::List => visitor.visit_seq(Items {
                doc,
                items: doc.list_range(&id, ..),
                depth,
            }),
            ObjType::Text => visitor.visit_string(doc.text(&id).map_err(de::Error::custom)?),
        }
    }

    as_json!(
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier
    );

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Scalar(value) => value.deserialize_option(visitor),
            object => visitor.visit_some(object),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Node::Scalar(value) => value.deserialize_unit_struct(name, visitor),
            object => object.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Node::Scalar(value) => value.deserialize_struct(name, fields, visitor),
            object => object.deserialize_any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Node::Scalar(value) => value.deserialize_enum(name, variants, visitor),
            // An enum with data is rare in a document: read it from its JSON.
            object => object
                .into_json()?
                .deserialize_enum(name, variants, visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if let Node::Object {
            doc,
            id,
            typ,
            depth,
        } = &self
        {
            check_depth(*doc, id, *typ, *depth)?;
        }
        visitor.visit_unit()
    }
}
