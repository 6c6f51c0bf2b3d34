//! Just enough XML for the adapters whose APIs answer in XML (Namecheap, NIFCLOUD, NameSilo):
//! the elements of an answer in document order, an entity resolver and an escaper. One copy,
//! so that every adapter reads untrusted XML the same way: malformed XML is an error, only the
//! five predefined entities and numeric character references are resolved (nothing external,
//! no entity a DTD declares), CDATA is taken as is.

use xmlparser::{ElementEnd, Token, Tokenizer};

/// One element: its local name, its ancestors' local names, its attributes and the text
/// directly in it. All of it comes from the answer and is untrusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// The local name, without a namespace prefix, e.g. `Name`.
    pub name: String,
    /// The ancestors' local names, outermost first: what tells a record's `Name` from a zone's.
    pub parents: Vec<String>,
    /// The attributes by local name, entities resolved, in document order.
    pub attributes: Vec<(String, String)>,
    /// The text directly inside it (not in its children), entities resolved.
    pub text: String,
}

impl Element {
    /// An attribute's value; names compare without regard to case, as Namecheap's own
    /// clients do.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether the element's direct parent is `name`.
    pub fn in_(&self, name: &str) -> bool {
        self.parents.last().is_some_and(|p| p == name)
    }
}

/// What [`walk`] reports, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// An element opens (its local name).
    Start(&'a str),
    /// An attribute of the element that opened last (local name, value with entities resolved).
    Attribute(&'a str, String),
    /// The innermost open element closes (also for `<empty/>`).
    End,
    /// Text or CDATA inside the innermost open element, entities resolved.
    Text(String),
    /// A document type declaration or an entity declaration: callers decide whether to refuse
    /// it (declared entities are never resolved either way).
    Dtd,
}

/// Tokenizes `text` and hands each [`Event`] to `on`; the first error (malformed XML, an
/// unknown entity, or what `on` returns) ends the walk. Balancing is the caller's job, since
/// each caller builds a different shape.
pub fn walk<'a>(text: &'a str, mut on: impl FnMut(Event<'a>) -> Result<(), String>) -> Result<(), String> {
    for token in Tokenizer::from(text) {
        let event = match token.map_err(|e| format!("not well-formed XML: {e}"))? {
            Token::DtdStart { .. } | Token::EmptyDtd { .. } | Token::EntityDeclaration { .. } => Event::Dtd,
            Token::ElementStart { local, .. } => Event::Start(local.as_str()),
            Token::Attribute { local, value, .. } => {
                Event::Attribute(local.as_str(), unescape(value.as_str())?)
            }
            Token::ElementEnd { end: ElementEnd::Open, .. } => continue,
            Token::ElementEnd { .. } => Event::End,
            Token::Text { text } => Event::Text(unescape(text.as_str())?),
            Token::Cdata { text, .. } => Event::Text(text.as_str().to_string()),
            _ => continue,
        };
        on(event)?;
    }
    Ok(())
}

/// Every element of `text` in document order (a DTD is passed over, its entities unknown).
pub fn elements(text: &str) -> Result<Vec<Element>, String> {
    let mut out: Vec<Element> = Vec::new();
    // Indexes into `out` of the elements open around the current position.
    let mut open: Vec<usize> = Vec::new();
    walk(text, |event| {
        match event {
            Event::Start(name) => {
                let parents = open.iter().map(|&i| out[i].name.clone()).collect();
                out.push(Element { name: name.to_string(), parents, ..Element::default() });
                open.push(out.len() - 1);
            }
            Event::Attribute(name, value) => {
                let element =
                    open.last().and_then(|&i| out.get_mut(i)).ok_or("attribute outside an element")?;
                element.attributes.push((name.to_string(), value));
            }
            Event::End => {
                open.pop().ok_or("an element closes that was not opened")?;
            }
            Event::Text(text) => {
                if let Some(&i) = open.last() {
                    out[i].text.push_str(&text);
                }
            }
            Event::Dtd => {}
        }
        Ok(())
    })?;
    if !open.is_empty() {
        return Err("the XML ends inside an element".into());
    }
    Ok(out)
}

/// Escapes text for an element's content.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Resolves the five predefined entities and character references; any other is an error.
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
    fn parents_and_entities() {
        let doc = r#"<?xml version="1.0"?><R xmlns="x"><Set><Name>a&amp;b</Name><Rs><R2><Value>"v"</Value></R2></Rs></Set><Name>top</Name></R>"#;
        let all = elements(doc).unwrap();
        let names: Vec<&Element> = all.iter().filter(|e| e.name == "Name").collect();
        assert_eq!(names[0].text, "a&b");
        assert!(names[0].in_("Set") && names[1].in_("R"));
        assert_eq!(all.iter().find(|e| e.name == "Value").unwrap().parents, ["R", "Set", "Rs", "R2"]);
        assert_eq!(escape("<&>"), "&lt;&amp;&gt;");
    }

    #[test]
    fn walk_reports_dtds_and_cdata() {
        let mut seen = Vec::new();
        walk("<!DOCTYPE x [<!ENTITY a \"b\">]><x><![CDATA[<v>]]></x>", |e| {
            seen.push(e);
            Ok(())
        })
        .unwrap();
        assert!(seen.contains(&Event::Dtd));
        assert!(seen.contains(&Event::Text("<v>".into())));
        assert!(walk("<x>&a;</x>", |_| Ok(())).is_err(), "a declared entity is not resolved");
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(elements("<a><b></a>").is_err());
        assert!(elements("<a>").is_err());
        assert!(elements("<a x=\"&bogus;\"/>").is_err());
        assert!(elements("<a>&#xZZ;</a>").is_err());
        assert!(elements("<a>&amp</a>").is_err());
        assert!(elements("<html>bad gateway").is_err());
    }
}
