//! A small CBOR (RFC 8949) writer: exactly what COSE_Sign1 status list tokens need. Maps keep
//! the order they are given in (callers give the spec's order).

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

#[cfg(test)]
mod tests {
    use super::*;

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
