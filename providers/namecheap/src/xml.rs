//! The few facts wildcert reads from a Namecheap XML answer, as a flat list of elements
//! (name, attributes, text). The answer is untrusted input: malformed XML is an error, and
//! entities are resolved here so that `&amp;` in a record's address round-trips.

/// One element: its local name, attributes (entities resolved) and the text directly in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub text: String,
}

impl Element {
    /// An attribute's value; names compare without regard to case.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Every element of `text` in document order.
pub fn elements(text: &str) -> Result<Vec<Element>, String> {
    let mut out: Vec<Element> = Vec::new();
    // Indexes into `out` of the elements open around the current position.
    let mut open: Vec<usize> = Vec::new();
    for token in xmlparser::Tokenizer::from(text) {
        match token.map_err(|e| format!("not well-formed XML: {e}"))? {
            xmlparser::Token::ElementStart { local, .. } => {
                out.push(Element { name: local.as_str().to_string(), ..Element::default() });
                open.push(out.len() - 1);
            }
            xmlparser::Token::Attribute { local, value, .. } => {
                let element =
                    open.last().and_then(|&i| out.get_mut(i)).ok_or("attribute outside an element")?;
                element.attributes.push((local.as_str().to_string(), unescape(value.as_str())?));
            }
            xmlparser::Token::ElementEnd { end, .. } => match end {
                xmlparser::ElementEnd::Open => {}
                xmlparser::ElementEnd::Empty | xmlparser::ElementEnd::Close(..) => {
                    open.pop().ok_or("an element closes that was not opened")?;
                }
            },
            xmlparser::Token::Text { text } => {
                if let Some(&i) = open.last() {
                    out[i].text.push_str(&unescape(text.as_str())?);
                }
            }
            xmlparser::Token::Cdata { text, .. } => {
                if let Some(&i) = open.last() {
                    out[i].text.push_str(text.as_str());
                }
            }
            _ => {}
        }
    }
    if !open.is_empty() {
        return Err("the XML ends inside an element".into());
    }
    Ok(out)
}

/// Resolves the five predefined entities and character references.
fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find(';').ok_or("an unterminated entity")? + start;
        let entity = &rest[start + 1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X"))
                {
                    u32::from_str_radix(hex, 16).ok()
                } else {
                    entity.strip_prefix('#').and_then(|d| d.parse().ok())
                };
                code.and_then(char::from_u32).ok_or_else(|| format!("unknown entity &{entity};"))?
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_attributes_and_text() {
        let doc = r#"<?xml version="1.0" encoding="utf-8"?>
<ApiResponse Status="ERROR" xmlns="http://api.namecheap.com/xml.response">
  <Errors><Error Number="2019166">Domain &amp; host not found</Error></Errors>
  <CommandResponse><host Name="@" Address="v=spf1 &quot;x&quot; &#65;&#x42;" /></CommandResponse>
</ApiResponse>"#;
        let all = elements(doc).unwrap();
        assert_eq!(all[0].attribute("status"), Some("ERROR"));
        let error = all.iter().find(|e| e.name == "Error").unwrap();
        assert_eq!(
            (error.attribute("Number"), error.text.as_str()),
            (Some("2019166"), "Domain & host not found")
        );
        let host = all.iter().find(|e| e.name == "host").unwrap();
        assert_eq!(host.attribute("Address"), Some("v=spf1 \"x\" AB"));
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(elements("<a><b></a>").is_err());
        assert!(elements("<a>").is_err());
        assert!(elements("<a x=\"&bogus;\"/>").is_err());
        assert!(elements("<html>bad gateway").is_err());
    }
}
