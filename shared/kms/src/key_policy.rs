//! The key policy every key trustfn generates is created with.
//!
//! Tags decide which keys the functions may sign with and retire (`trustfn:path`,
//! `trustfn:stack`), so the right to tag must not reach keys trustfn did not create. Tagging a
//! key inside `CreateKey` needs `kms:TagResource` in an IAM policy on every key of the account,
//! which would also let the function tag any existing key. So no IAM policy grants tagging:
//! each new key's own policy lets the role that created it (and nobody else) tag it with the
//! two trustfn tags and, if that fails, retire it. Everything else is left to IAM, as in the
//! default key policy (the account statement).

use serde_json::json;
use trustfn_domain::ports::KmsError;

/// Who creates keys: the creating function's IAM role, and the stack whose tag it may set.
#[derive(Clone, Debug)]
pub struct KeyCreator {
    role_arn: String,
    partition: String,
    account: String,
    stack: String,
}

impl KeyCreator {
    /// `role_arn` is `arn:<partition>:iam::<account>:role/<name>`.
    pub fn new(role_arn: &str, stack: &str) -> Result<KeyCreator, String> {
        let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
        let ok = parts.len() == 6
            && parts[0] == "arn"
            && !parts[1].is_empty()
            && parts[2] == "iam"
            && parts[3].is_empty()
            && parts[4].len() == 12
            && parts[4].bytes().all(|b| b.is_ascii_digit())
            && parts[5].starts_with("role/")
            && parts[5].len() > "role/".len();
        if !ok {
            return Err(format!(
                "the key creator role must be an IAM role ARN \
                 (arn:<partition>:iam::<account>:role/<name>), got {role_arn:?}"
            ));
        }
        if stack.is_empty() {
            return Err("the key creator needs the stack name (TRUSTFN_STACK)".into());
        }
        Ok(KeyCreator {
            role_arn: role_arn.to_owned(),
            partition: parts[1].to_owned(),
            account: parts[4].to_owned(),
            stack: stack.to_owned(),
        })
    }

    pub fn stack(&self) -> &str {
        &self.stack
    }

    /// The key policy, as `CreateKey` takes it.
    pub fn policy(&self, tag_keys: &[&str]) -> Result<String, KmsError> {
        let doc = json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministration",
                    "Effect": "Allow",
                    "Principal": { "AWS": format!("arn:{}:iam::{}:root", self.partition, self.account) },
                    "Action": "kms:*",
                    "Resource": "*"
                },
                {
                    "Sid": "CreatorTagsThisKeyOnly",
                    "Effect": "Allow",
                    "Principal": { "AWS": self.role_arn },
                    "Action": "kms:TagResource",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": { "aws:RequestTag/trustfn:stack": self.stack },
                        "ForAllValues:StringEquals": { "aws:TagKeys": tag_keys }
                    }
                },
                {
                    "Sid": "CreatorRetiresThisKeyIfTaggingFails",
                    "Effect": "Allow",
                    "Principal": { "AWS": self.role_arn },
                    "Action": "kms:ScheduleKeyDeletion",
                    "Resource": "*"
                }
            ]
        });
        serde_json::to_string(&doc).map_err(|e| KmsError::Unavailable(format!("key policy: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn only_a_role_arn_names_the_creator() {
        for bad in [
            "",
            "arn:aws:iam::123456789012:user/alice",
            "arn:aws:iam::12345:role/x",
            "arn:aws:sts::123456789012:assumed-role/x/y",
            "arn:aws:iam::123456789012:role/",
        ] {
            assert!(KeyCreator::new(bad, "stack").is_err(), "{bad}");
        }
        assert!(KeyCreator::new("arn:aws:iam::123456789012:role/r", "").is_err());
    }

    #[test]
    fn the_creator_may_tag_only_with_its_stack_and_the_trustfn_tags() {
        let c = KeyCreator::new("arn:aws-us-gov:iam::123456789012:role/gen", "prod").unwrap();
        let p: Value =
            serde_json::from_str(&c.policy(&["trustfn:path", "trustfn:stack"]).unwrap()).unwrap();
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(
            st[0]["Principal"]["AWS"],
            "arn:aws-us-gov:iam::123456789012:root"
        );
        assert_eq!(
            st[1]["Principal"]["AWS"],
            "arn:aws-us-gov:iam::123456789012:role/gen"
        );
        assert_eq!(st[1]["Action"], "kms:TagResource");
        assert_eq!(
            st[1]["Condition"]["StringEquals"]["aws:RequestTag/trustfn:stack"],
            "prod"
        );
        assert_eq!(
            st[1]["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"],
            json!(["trustfn:path", "trustfn:stack"])
        );
        assert_eq!(st[2]["Action"], "kms:ScheduleKeyDeletion");
        assert_eq!(st.len(), 3);
    }
}
