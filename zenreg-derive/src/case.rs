//! serde's `rename_all` conventions, applied to field names the way serde applies them.
//!
//! serde assumes Rust field names are `snake_case`: `lowercase` and `snake_case` leave a field
//! name as it is, and the other conventions split it at `_`. Written here from serde's documented
//! behaviour so zenreg's field table carries the very names serde reads.

/// One of serde's case conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

/// Every convention under the name serde gives it, in serde's documentation order.
pub const RULES: &[(&str, RenameRule)] = &[
    ("lowercase", RenameRule::Lower),
    ("UPPERCASE", RenameRule::Upper),
    ("PascalCase", RenameRule::Pascal),
    ("camelCase", RenameRule::Camel),
    ("snake_case", RenameRule::Snake),
    ("SCREAMING_SNAKE_CASE", RenameRule::ScreamingSnake),
    ("kebab-case", RenameRule::Kebab),
    ("SCREAMING-KEBAB-CASE", RenameRule::ScreamingKebab),
];

impl RenameRule {
    /// The rule serde calls `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        RULES.iter().find(|(rule_name, _)| *rule_name == name).map(|(_, rule)| *rule)
    }

    /// The name serde gives field `field` (a Rust field name, raw prefix removed) under this rule.
    pub fn apply_to_field(self, field: &str) -> String {
        match self {
            RenameRule::Lower | RenameRule::Snake => field.to_string(),
            RenameRule::Upper | RenameRule::ScreamingSnake => field.to_ascii_uppercase(),
            RenameRule::Kebab => field.replace('_', "-"),
            RenameRule::ScreamingKebab => field.to_ascii_uppercase().replace('_', "-"),
            RenameRule::Pascal => capitalize_words(field),
            RenameRule::Camel => {
                let pascal = capitalize_words(field);
                let mut chars = pascal.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                    None => pascal,
                }
            }
        }
    }
}

/// `the_field_name` -> `TheFieldName`: `_` dropped, the letter after each one (and the first)
/// upper-cased, every other character kept as written.
fn capitalize_words(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut word_start = true;
    for ch in field.chars() {
        if ch == '_' {
            word_start = true;
        } else if word_start {
            out.push(ch.to_ascii_uppercase());
            word_start = false;
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_convention_on_a_multi_word_field() {
        let expected = [
            ("lowercase", "default_repository_name"),
            ("UPPERCASE", "DEFAULT_REPOSITORY_NAME"),
            ("PascalCase", "DefaultRepositoryName"),
            ("camelCase", "defaultRepositoryName"),
            ("snake_case", "default_repository_name"),
            ("SCREAMING_SNAKE_CASE", "DEFAULT_REPOSITORY_NAME"),
            ("kebab-case", "default-repository-name"),
            ("SCREAMING-KEBAB-CASE", "DEFAULT-REPOSITORY-NAME"),
        ];
        for (rule, name) in expected {
            assert_eq!(RenameRule::from_name(rule).unwrap().apply_to_field("default_repository_name"), name, "{rule}");
        }
    }

    #[test]
    fn single_words_digits_and_odd_underscores() {
        assert_eq!(RenameRule::Camel.apply_to_field("uri"), "uri");
        assert_eq!(RenameRule::Camel.apply_to_field("retry_2x"), "retry2x");
        assert_eq!(RenameRule::Pascal.apply_to_field("_private"), "Private");
        assert_eq!(RenameRule::Camel.apply_to_field("a__b"), "aB");
        assert_eq!(RenameRule::Kebab.apply_to_field("a__b"), "a--b");
        assert_eq!(RenameRule::from_name("camelcase"), None);
    }
}
