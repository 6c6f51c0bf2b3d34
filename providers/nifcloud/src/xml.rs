//! The elements of an XML answer in document order, each with its ancestors' names, so that
//! `ResourceRecordSet/Name` and `HostedZone/Name` can be told apart without a DOM. The answer
//! is untrusted: malformed XML is an error. Entities are resolved.

/// One element: its local name, the local names of its ancestors (outermost first) and the
/// text directly in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// The local name, without a namespace prefix, e.g. `Name`.
    pub name: String,
    /// The ancestors' local names, outermost first: what tells a record's `Name` from a zone's.
    pub parents: Vec<String>,
    /// The text directly inside it, entities resolved (untrusted).
    pub text: String,
}

impl Element {
    /// Whether the element's direct parent is `name`.
    pub fn in_(&self, name: &str) -> bool {
        self.parents.last().is_some_and(|p| p == name)
    }
}

/// Every element of `text` in document order.
pub fn elements(text: &str) -> Result<Vec<Element>, String> {
    let mut out: Vec<Element> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for token in xmlparser::Tokenizer::from(text) {
        match token.map_err(|e| format!("not well-formed XML: {e}"))? {
            xmlparser::Token::ElementStart { local, .. } => {
                let parents = open.iter().map(|&i| out[i].name.clone()).collect();
                out.push(Element { name: local.as_str().to_string(), parents, text: String::new() });
                open.push(out.len() - 1);
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

/// Escapes text for an element's content.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

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
                let code = match entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => entity.strip_prefix('#').and_then(|d| d.parse().ok()),
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
    fn parents_and_entities() {
        let doc = r#"<?xml version="1.0"?><R xmlns="x"><Set><Name>a&amp;b</Name><Rs><R2><Value>"v"</Value></R2></Rs></Set><Name>top</Name></R>"#;
        let all = elements(doc).unwrap();
        let names: Vec<&Element> = all.iter().filter(|e| e.name == "Name").collect();
        assert_eq!(names[0].text, "a&b");
        assert!(names[0].in_("Set") && names[1].in_("R"));
        assert_eq!(all.iter().find(|e| e.name == "Value").unwrap().parents, ["R", "Set", "Rs", "R2"]);
        assert!(elements("<a><b></a>").is_err());
        assert_eq!(escape("<&>"), "&lt;&amp;&gt;");
    }
}
