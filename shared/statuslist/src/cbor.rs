//! A small CBOR (RFC 8949) writer and reader: exactly what COSE_Sign1 status list tokens need
//! (definite lengths, no floats). Maps keep the order they are given in (callers give the spec's
//! order).

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Uint(u64),
    Nint(i64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Tag(u64, Box<Value>),
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xFF => out.extend([m | 24, n as u8]),
        0x100..=0xFFFF => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        0x1_0000..=0xFFFF_FFFF => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend(n.to_be_bytes());
        }
    }
}

impl Value {
    pub fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    pub fn int(i: i64) -> Value {
        if i >= 0 {
            Value::Uint(i as u64)
        } else {
            Value::Nint(i)
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Value::Uint(n) => head(out, 0, *n),
            Value::Nint(i) => head(out, 1, (-1 - *i) as u64),
            Value::Bytes(b) => {
                head(out, 2, b.len() as u64);
                out.extend(b);
            }
            Value::Text(s) => {
                head(out, 3, s.len() as u64);
                out.extend(s.as_bytes());
            }
            Value::Array(items) => {
                head(out, 4, items.len() as u64);
                for i in items {
                    i.write(out);
                }
            }
            Value::Map(pairs) => {
                head(out, 5, pairs.len() as u64);
                for (k, v) in pairs {
                    k.write(out);
                    v.write(out);
                }
            }
            Value::Tag(t, v) => {
                head(out, 6, *t);
                v.write(out);
            }
        }
    }
}

/// The COSE_Sign1 `Sig_structure` (RFC 9052 §4.4) with an empty `external_aad`: what the
/// signature of a status list CWT or a VICAL covers.
pub fn sig_structure1(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    Value::Array(vec![
        Value::text("Signature1"),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(Vec::new()),
        Value::Bytes(payload.to_vec()),
    ])
    .encode()
}

/// The COSE `x5chain` header value (label 33): one byte string for a lone certificate, else an
/// array, leaf first. `None` for no certificate.
pub fn x5chain(certs: &[Vec<u8>]) -> Option<Value> {
    match certs {
        [] => None,
        [one] => Some(Value::Bytes(one.clone())),
        many => Some(Value::Array(
            many.iter().map(|c| Value::Bytes(c.clone())).collect(),
        )),
    }
}

/// Most nesting [`Value::decode`] follows (a status list token nests four deep).
const MAX_DEPTH: u32 = 16;

impl Value {
    /// Reads one item that takes all of `bytes`. Indefinite lengths, floats and simple values
    /// other than none are refused: status list tokens use none of them.
    pub fn decode(bytes: &[u8]) -> Result<Value, String> {
        let mut at = 0;
        let v = read(bytes, &mut at, 0)?;
        if at != bytes.len() {
            return Err(format!("{} bytes after the item", bytes.len() - at));
        }
        Ok(v)
    }

    /// The value of `key` in a map.
    pub fn get(&self, key: &Value) -> Option<&Value> {
        match self {
            Value::Map(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Uint(n) => i64::try_from(*n).ok(),
            Value::Nint(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

fn take<'a>(bytes: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], String> {
    let end = at.checked_add(n).filter(|e| *e <= bytes.len());
    let end = end.ok_or_else(|| "truncated".to_owned())?;
    let out = &bytes[*at..end];
    *at = end;
    Ok(out)
}

fn read(bytes: &[u8], at: &mut usize, depth: u32) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err("nested too deep".into());
    }
    let first = take(bytes, at, 1)?[0];
    let (major, info) = (first >> 5, first & 0x1f);
    let n: u64 = match info {
        0..=23 => u64::from(info),
        24 => u64::from(take(bytes, at, 1)?[0]),
        25 => u64::from(u16::from_be_bytes(
            take(bytes, at, 2)?.try_into().expect("2"),
        )),
        26 => u64::from(u32::from_be_bytes(
            take(bytes, at, 4)?.try_into().expect("4"),
        )),
        27 => u64::from_be_bytes(take(bytes, at, 8)?.try_into().expect("8")),
        _ => return Err(format!("unsupported additional information {info}")),
    };
    // Every item takes at least one byte: a count larger than what is left is a lie.
    let count = |n: u64| -> Result<usize, String> {
        usize::try_from(n)
            .ok()
            .filter(|c| *c <= bytes.len() - *at)
            .ok_or_else(|| "length past the end".to_owned())
    };
    Ok(match major {
        0 => Value::Uint(n),
        1 => Value::Nint(-1 - i64::try_from(n).map_err(|_| "negative integer too large")?),
        2 => Value::Bytes(take(bytes, at, count(n)?)?.to_vec()),
        3 => Value::Text(
            String::from_utf8(take(bytes, at, count(n)?)?.to_vec())
                .map_err(|_| "text is not UTF-8")?,
        ),
        4 => {
            let len = count(n)?;
            let mut items = Vec::with_capacity(len);
            for _ in 0..len {
                items.push(read(bytes, at, depth + 1)?);
            }
            Value::Array(items)
        }
        5 => {
            let len = count(n)?;
            let mut pairs = Vec::with_capacity(len);
            for _ in 0..len {
                let k = read(bytes, at, depth + 1)?;
                pairs.push((k, read(bytes, at, depth + 1)?));
            }
            Value::Map(pairs)
        }
        6 => Value::Tag(n, Box::new(read(bytes, at, depth + 1)?)),
        _ => return Err(format!("unsupported major type {major}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes_and_refuses_what_it_cannot() {
        let v = Value::Tag(
            18,
            Box::new(Value::Array(vec![
                Value::Bytes(vec![1, 2, 3]),
                Value::Map(vec![
                    (Value::Uint(4), Value::Bytes(b"kid".to_vec())),
                    (Value::int(-7), Value::text("x")),
                    (Value::Uint(70_000), Value::Uint(u64::MAX)),
                ]),
                Value::Bytes(vec![0; 300]),
            ])),
        );
        assert_eq!(Value::decode(&v.encode()).unwrap(), v);
        assert_eq!(
            v.encode().len(),
            Value::decode(&v.encode()).unwrap().encode().len()
        );
        let mut extra = v.encode();
        extra.push(0);
        assert!(Value::decode(&extra).is_err());
        let enc = v.encode();
        assert!(Value::decode(&enc[..enc.len() - 1]).is_err());
        // An array claiming 2^32 items in a few bytes, a float, an indefinite length.
        assert!(Value::decode(&[0x9a, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(Value::decode(&[0xfb, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Value::decode(&[0x9f, 0xff]).is_err());
        let deep: Vec<u8> = std::iter::repeat_n(0x81u8, 40).chain([0]).collect();
        assert!(Value::decode(&deep).is_err());
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn encodes_the_spec_status_list_map() {
        // {"bits": 1, "lst": h'78dadbb918000217015d'}
        let m = Value::Map(vec![
            (Value::text("bits"), Value::Uint(1)),
            (
                Value::text("lst"),
                Value::Bytes(vec![
                    0x78, 0xda, 0xdb, 0xb9, 0x18, 0x00, 0x02, 0x17, 0x01, 0x5d,
                ]),
            ),
        ]);
        assert_eq!(
            hex(&m.encode()),
            "a2646269747301636c73744a78dadbb918000217015d"
        );
        assert_eq!(hex(&Value::int(-7).encode()), "26");
        assert_eq!(hex(&Value::Uint(65534).encode()), "19fffe");
        assert_eq!(hex(&Value::Uint(1686920170).encode()), "1a648c5bea");
        assert_eq!(
            hex(&Value::Tag(18, Box::new(Value::Array(vec![]))).encode()),
            "d280"
        );
    }
}
