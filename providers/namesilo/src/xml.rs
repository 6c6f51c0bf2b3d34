//! NameSilo's answers as a tree: elements, their text, their children, built on the
//! toolkit's XML reader (`wildcert_dns_http::xml`). NameSilo refuses DTDs where the other XML
//! adapters pass over them, since no NameSilo answer carries one. The answer is untrusted
//! input: depth and size are bounded.

use wildcert_dns_http::xml::{Event, walk};

/// Deeper nesting than this is not an answer NameSilo documents.
const MAX_DEPTH: usize = 16;

/// One element: its local name, its text (concatenated, trimmed) and its child elements.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child named `name`, or "".
    pub fn text_of(&self, name: &str) -> &str {
        self.child(name).map(|c| c.text.as_str()).unwrap_or("")
    }
}

/// The document's root element.
pub fn parse(text: &str) -> Result<Element, String> {
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    walk(text, |event| {
        match event {
            Event::Dtd => return Err("the answer carries a DTD, which no NameSilo answer does".into()),
            Event::Start(name) => {
                if stack.len() >= MAX_DEPTH || root.is_some() {
                    return Err("unexpected document structure".into());
                }
                stack.push(Element { name: name.to_string(), ..Element::default() });
            }
            Event::End => {
                let mut done = stack.pop().ok_or("unbalanced closing tag")?;
                done.text = done.text.trim().to_string();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(text) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&text);
                }
            }
            Event::Attribute(..) => {}
        }
        Ok(())
    })?;
    if !stack.is_empty() {
        return Err("the document ends inside an element".into());
    }
    root.ok_or_else(|| "no element in the answer".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_reply() {
        let doc = parse(
            "<?xml version=\"1.0\"?>\n<namesilo><request><operation>dnsListRecords</operation></request>\
             <reply><code>300</code><detail>success</detail>\
             <resource_record><record_id>a1</record_id><value>x &amp; &#65;</value></resource_record>\
             <resource_record><record_id>b2</record_id><value><![CDATA[<v>]]></value></resource_record>\
             <empty/></reply></namesilo>",
        )
        .unwrap();
        let reply = doc.child("reply").unwrap();
        assert_eq!(reply.text_of("code"), "300");
        let values: Vec<&str> = reply.all("resource_record").map(|r| r.text_of("value")).collect();
        assert_eq!(values, ["x & A", "<v>"]);
        assert_eq!(reply.text_of("missing"), "");
    }

    #[test]
    fn refuses_dtds_and_broken_documents() {
        assert!(parse("<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>").is_err());
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("<a>").is_err());
        assert!(parse("plain text").is_err());
        assert!(parse("<a>&bogus;</a>").is_err());
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert!(parse(&deep).is_err());
    }
}
