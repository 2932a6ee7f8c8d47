#!/usr/bin/env python3
"""infra/openapi.yaml (OpenAPI 3.1), generated from template.yaml's routes plus the operation
metadata below, so the spec can never list a route the API does not have (or miss one).

    openapi.py write    regenerate infra/openapi.yaml
    openapi.py check    fail if infra/openapi.yaml is stale
"""
import sys

import yaml

from routes import ROOT, public_routes, template_routes

OUT = ROOT / "infra" / "openapi.yaml"


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


ID = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,15}$"}
JSON_OBJ = {"type": "object", "additionalProperties": True}


def names(schema, kind, needs):
    """A request field that names a resource: `kind` is what it names, `needs` the right (or
    rule) the caller must hold on it. tests/api/test_body_refs.py aims every such field at
    outsiders' resources."""
    return {**schema, "x-names": {"kind": kind, "needs": needs}}

SCHEMAS = {
    "Error": {
        "type": "object", "required": ["exception", "id", "status", "code", "message"],
        "properties": {"exception": {"const": True}, "id": {"type": "string", "description": "stable error name"},
                       "status": {"type": "string", "description": "HTTP reason phrase"},
                       "code": {"type": "string", "description": "HTTP status code as a string"},
                       "message": {"type": "string"}}},
    "Target": {**ID, "description": "dotted resource path org.tenant[.sub...].service[.child]"},
    "AuditQuery": {"type": "object", "required": ["target"], "additionalProperties": False, "properties": {
        "target": {"$ref": "#/components/schemas/Target"},
        "from": {"type": "integer", "description": "Unix milliseconds, inclusive"},
        "to": {"type": "integer", "description": "Unix milliseconds, inclusive"},
        "action": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
        "cursor": {"type": "string"}}},
    "AuditEntry": {"type": "object", "description": "entryHash = hex SHA-256 of the entry's RFC 8785 canonical JSON without entryHash",
                   "required": ["organization", "sequenceNumber", "timestamp", "actor", "action", "target", "outcome",
                                "changes", "prevEntryHash", "entryHash"],
                   "properties": {"organization": {"type": "string"}, "sequenceNumber": {"type": "integer"},
                                  "timestamp": {"type": "integer"}, "actor": {"type": "object"},
                                  "action": {"type": "string"}, "target": {"type": "string"},
                                  "outcome": {"enum": ["success", "denied"]}, "requestId": {"type": "string"},
                                  "changes": {"type": "array", "items": {"type": "object"}},
                                  "prevEntryHash": {"type": "string"}, "entryHash": {"type": "string"}}},
    "AuditCheckpoints": {"type": "object", "required": ["organization", "publicKey", "checkpoints"], "properties": {
        "organization": {"type": "string"}, "publicKey": {"type": "object", "description": "EC JWK (P-256)"},
        "checkpoints": {"type": "array", "items": {"type": "object", "required": ["sequenceNumber", "jws"], "properties": {
            "sequenceNumber": {"type": "integer"},
            "jws": {"type": "string", "description": "compact JWS, ES256, typ trustfn-audit-checkpoint+jwt; payload "
                                                     "{organization, sequenceNumber, entryHash, timestamp}"}}}}}},
    "AuditVerifyRequest": {"type": "object", "required": ["target"], "additionalProperties": False,
                           "properties": {"target": {"$ref": "#/components/schemas/Target"}}},
    "AuditVerification": {"type": "object", "required": ["valid", "entries", "head", "firstBrokenSequence"], "properties": {
        "valid": {"type": "boolean"}, "entries": {"type": "integer"},
        "head": {"type": ["object", "null"], "properties": {"sequenceNumber": {"type": "integer"}, "entryHash": {"type": "string"}}},
        "firstBrokenSequence": {"type": ["integer", "null"]}, "reason": {"type": "string"},
        "checkpoint": {"type": "object", "properties": {"sequenceNumber": {"type": "integer"}, "timestamp": {"type": "integer"}}}}},
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "UP"}, "version": {"type": "string"}}},
    "OrganizationCreate": {
        "type": "object", "required": ["_id", "profile"], "additionalProperties": False,
        "properties": {"_id": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}$"},
                       "profile": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1}}},
                       "billing": JSON_OBJ}},
    "TenantCreate": {"type": "object", "required": ["name"], "additionalProperties": False,
                     "properties": {"name": {"type": "string", "minLength": 1}, "configuration": JSON_OBJ}},
    "ServiceType": {"enum": ["kms", "x509-service", "x509-store", "credential-status", "vical-service"]},
    "Registry": {
        "type": "object", "required": ["type"],
        "description": "credential-status registry: aws {bucketName, region, accessKeyId?, secretKey?, endpointUrl?, bucketUrl?}; "
                       "azure {accountName, containerName, accountKey? | sasToken? | connectionString?, endpointUrl?, bucketUrl?}; "
                       "gcs {bucketName, projectId?, serviceAccountKeyJson?, endpointUrl?, bucketUrl?}. Secrets are shown as ***.",
        "properties": {"type": {"enum": ["aws", "azure", "gcs"]}}, "additionalProperties": {"type": ["string", "object"]}},
    "ServiceConfig": {"type": "object", "additionalProperties": True, "properties": {
        "registry": ref("Registry"),
        "crl": {"type": "object", "required": ["registry"], "additionalProperties": False,
                "description": "x509-service only: where the CRLs its IACAs sign are published",
                "properties": {"registry": ref("Registry"),
                               "validityDays": {"type": "integer", "minimum": 1, "maximum": 366, "default": 7}}}}},
    "ServiceCreate": {"type": "object", "required": ["type"], "additionalProperties": False,
                      "description": "a vical-service takes signingKeyId, signerCertificateId and "
                                     "signerCertificateChainIds at the top level (walt.id's body) or in config",
                      "properties": {"type": ref("ServiceType"), "config": ref("ServiceConfig"),
                                     "dependencies": {"type": "array", "maxItems": 32,
                                                      "items": names(ref("Target"), "service", "service-dependency-add")},
                                     "_id": {**ref("Target"), "description": "when given, the target"},
                                     "signingKeyId": names(ref("Target"), "key", "kms-key-use"),
                                     "signerCertificateId": names(ref("Target"), "certificate",
                                                                  "x509-store-certificate-view"),
                                     "signerCertificateChainIds": {"type": "array", "maxItems": 8, "items": names(
                                         ref("Target"), "certificate", "x509-store-certificate-view")}}},
    "Resource": {"type": "object", "required": ["_id", "type", "version", "createdAt"], "additionalProperties": True,
                 "properties": {"_id": ref("Target"), "parent": ref("Target"), "type": {"type": "string"},
                                "version": {"type": "integer", "minimum": 1}, "createdAt": {"type": "string", "format": "date-time"}}},
    "Service": {"allOf": [ref("Resource"), {"type": "object", "required": ["config", "dependencies"], "properties": {
        "type": ref("ServiceType"), "config": ref("ServiceConfig"), "dependencies": {"type": "array", "items": ref("Target")}}}]},
    "ServiceUpdate": {"type": "object", "additionalProperties": True, "description":
                      "the document as configuration/view shows it; config replaces the stored config, version (when given) "
                      "must be current. The configuration may also be sent flat (its fields at the top level, with _id, as the "
                      "Enterprise API documents it); where both forms are sent, the one that changes a field wins.",
                      "properties": {"_id": ref("Target"), "parent": ref("Target"), "type": ref("ServiceType"),
                                     "config": ref("ServiceConfig"),
                                     "dependencies": {"type": "array", "description": "must equal the current dependencies",
                                                      "items": names(ref("Target"), "service", "unchanged")},
                                     "version": {"type": "integer"}, "createdAt": {"type": "string"}}},
    "DependencyBody": {"oneOf": [names(ref("Target"), "service", "service-dependency-add"),
                                 {"type": "object", "required": ["dependency"], "properties": {
                                     "dependency": names(ref("Target"), "service", "service-dependency-add")}}]},
    "DependencyAdded": {"type": "object", "required": ["_id", "dependency"],
                        "properties": {"_id": ref("Target"), "dependency": ref("Target")}},
    "Deleted": {"type": "object", "required": ["_id", "deleted"],
                "properties": {"_id": ref("Target"), "deleted": {"type": "integer", "minimum": 1}}},
    "Permission": {"type": "object", "required": ["target", "action", "operation"],
                   "properties": {"target": names(ref("Target"), "target", "the creator's effective rights"),
                                  "action": {"type": "string", "description": "an action name or all"},
                                  "operation": {"enum": ["ADD", "REMOVE"]}}},
    "RoleCreate": {"type": "object", "required": ["name"], "additionalProperties": False,
                   "properties": {"name": {"type": "string", "minLength": 1}, "permissions": {"type": "array", "items": ref("Permission")}}},
    "Role": {"allOf": [ref("Resource"), {"type": "object", "properties": {
        "name": {"type": "string"}, "permissions": {"type": "array", "items": ref("Permission")}}}]},
    "RoleMappingBody": {"type": "object", "additionalProperties": False, "properties": {
        "enabled": {"type": "boolean", "default": True},
        "providerId": {"type": ["string", "null"], "description": "the configured OidcIssuer, or omitted"},
        "conditions": {"type": ["object", "null"], "additionalProperties": False, "properties": {
            "emailDomains": {"type": "array", "maxItems": 20, "items": {"type": "string"},
                             "description": "the user's verified e-mail must be in one of these domains"}}}}},
    "RoleMapping": {"type": "object", "required": ["externalRole", "roleId", "enabled"], "properties": {
        "externalRole": {"type": "string"}, "roleId": ref("Target"), "enabled": {"type": "boolean"},
        "providerId": {"type": ["string", "null"]},
        "conditions": {"type": ["object", "null"], "properties": {
            "emailDomains": {"type": "array", "items": {"type": "string"}}}}}},
    "RoleAssignment": {"type": "object", "required": ["apikey"], "additionalProperties": False, "properties": {
        "apikey": names({"type": "string", "description": "the API key: <org>.<keyId> or <keyId>"}, "apikey",
                        "apikey-role-assign")}},
    "ApiKeyCreate": {"type": "object", "required": ["name"], "additionalProperties": False,
                     "properties": {"name": {"type": "string", "minLength": 1},
                                    "expiration": {"type": "string", "description": "30d, 1d 12h, PT12H ..."},
                                    "roles": {"type": "array", "items": names(
                                        {"type": "string"}, "role", "the creator's effective rights")}}},
    "ApiKey": {"allOf": [ref("Resource"), {"type": "object", "properties": {
        "name": {"type": "string"}, "roles": {"type": "array", "items": ref("Target")},
        "expiresAt": {"type": "string", "format": "date-time"}}}]},
    "ApiKeyCreated": {"allOf": [ref("ApiKey"), {"type": "object", "required": ["token"], "properties": {
        "token": {"type": "string", "description": "shown once; only its SHA-256 is stored"}}}]},
    "KeyGenerate": {"type": "object", "required": ["keyType"], "additionalProperties": False,
                    "properties": {"keyType": {"enum": ["secp256r1", "secp384r1", "secp521r1"]},
                                   "backend": {"enum": ["aws", "kms"]}}},
    "KeyImportAws": {"type": "object", "required": ["keyArn"], "additionalProperties": False,
                     "properties": {"keyArn": names({"type": "string", "pattern": "^arn:"}, "kms-key-arn",
                                                    "a trustfn:adopt-by tag on the key naming the target or an ancestor")}},
    "Jwk": {"type": "object", "required": ["kty", "crv", "x", "y"],
            "properties": {"kty": {"const": "EC"}, "crv": {"enum": ["P-256", "P-384", "P-521"]},
                           "x": {"type": "string"}, "y": {"type": "string"}}},
    "Key": {"allOf": [ref("Resource"), {"type": "object", "required": ["keyType", "publicKey", "kmsKeyArn", "key"], "properties": {
        "keyType": {"enum": ["secp256r1", "secp384r1", "secp521r1"]}, "publicKey": ref("Jwk"),
        "kmsKeyArn": {"type": "string"}, "imported": {"type": "boolean"},
        "key": {"type": "object", "required": ["type", "jwk"], "description": "walt.id's key record: the public JWK",
                "properties": {"type": {"const": "jwk"}, "jwk": ref("Jwk")}}}}]},
    "KeyDescriptor": {"oneOf": [
        {"type": "object", "required": ["type", "keyIdPath"], "additionalProperties": False,
         "properties": {"type": {"const": "kms-hosted-key-descriptor"},
                        "keyIdPath": names(ref("Target"), "key", "kms-key-use")}},
        {"type": "object", "required": ["type", "jwk"], "additionalProperties": False,
         "properties": {"type": {"const": "jwk-encoded-key-descriptor"}, "jwk": ref("Jwk")}},
        {"type": "object", "required": ["type", "csrPem"], "additionalProperties": False,
         "description": "Document Signers only: a PKCS#10 request whose signature verifies; its subject is ignored",
         "properties": {"type": {"const": "pkcs10-csr"}, "csrPem": {"type": "string"}}}]},
    "IacaCertificateData": {"type": "object", "required": ["country", "commonName", "issuerAlternativeNameConf"],
                            "additionalProperties": False, "properties": {
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"}, "commonName": {"type": "string", "maxLength": 64},
        "issuerAlternativeNameConf": {"type": "object", "additionalProperties": False,
                                      "properties": {"uri": {"type": "string"}, "email": {"type": "string"}}},
        "stateOrProvinceName": {"type": "string"}, "organizationName": {"type": "string"},
        "notBefore": {"type": "string", "format": "date-time"}, "notAfter": {"type": "string", "format": "date-time"},
        "crlDistributionPointUri": {"type": "string"}}},
    "DsCertificateData": {"type": "object", "required": ["country", "commonName"],
                          "description": "crlDistributionPointUri is required unless the x509-service has config.crl",
                          "additionalProperties": False, "properties": {
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"}, "commonName": {"type": "string", "maxLength": 64},
        "crlDistributionPointUri": {"type": "string"}, "stateOrProvinceName": {"type": "string"},
        "organizationName": {"type": "string"}, "localityName": {"type": "string"},
        "notBefore": {"type": "string", "format": "date-time"}, "notAfter": {"type": "string", "format": "date-time"}}},
    "IacaSigner": {"oneOf": [
        {"type": "object", "required": ["type", "iacaPemEncodedCertificate", "iacaKeyDesc"], "additionalProperties": False,
         "properties": {"type": {"const": "iaca-pem-cert-descriptor"}, "iacaPemEncodedCertificate": {"type": "string"},
                        "iacaKeyDesc": ref("KeyDescriptor")}},
        {"type": "object", "required": ["type", "storedCertificatePath", "iacaKeyDesc"], "additionalProperties": False,
         "properties": {"type": {"const": "stored-certificate-descriptor"},
                        "storedCertificatePath": names(ref("Target"), "certificate", "x509-store-certificate-view"),
                        "iacaKeyDesc": ref("KeyDescriptor")}}]},
    "IssueIaca": {"type": "object", "required": ["certificateData", "iacaKeyDesc"], "additionalProperties": False,
                  "properties": {"storedCertificateId": {"type": "string"}, "certificateData": ref("IacaCertificateData"),
                                 "iacaKeyDesc": ref("KeyDescriptor"), "vicalEntryComplementaryMetadata": JSON_OBJ}},
    "IssueDocumentSigner": {"type": "object", "required": ["iacaSigner", "certificateData", "dsKeyDescriptor"],
                            "additionalProperties": False, "properties": {
        "storedCertificateId": {"type": "string"},
        "iacaSigner": ref("IacaSigner"),
        "certificateData": ref("DsCertificateData"), "dsKeyDescriptor": ref("KeyDescriptor")}},
    "StatusListSignerData": {"type": "object", "required": ["country", "commonName"], "additionalProperties": False,
                             "properties": {
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"}, "commonName": {"type": "string", "maxLength": 64},
        "crlDistributionPointUri": {"type": "string"}, "stateOrProvinceName": {"type": "string"},
        "organizationName": {"type": "string"}, "localityName": {"type": "string"},
        "notBefore": {"type": "string", "format": "date-time"}, "notAfter": {"type": "string", "format": "date-time"}}},
    "IssueStatusListSigner": {"type": "object", "required": ["iacaSigner", "certificateData", "signerKeyDescriptor"],
                              "additionalProperties": False, "properties": {
        "storedCertificateId": {"type": "string"},
        "iacaSigner": ref("IacaSigner"),
        "certificateData": ref("StatusListSignerData"), "signerKeyDescriptor": ref("KeyDescriptor")}},
    "IssueVicalSigner": {"type": "object", "required": ["iacaSigner", "certificateData", "signerKeyDescriptor"],
                         "additionalProperties": False, "properties": {
        "storedCertificateId": {"type": "string"},
        "iacaSigner": ref("IacaSigner"),
        "certificateData": ref("StatusListSignerData"), "signerKeyDescriptor": ref("KeyDescriptor")}},
    "CsrCreate": {"type": "object", "required": ["type", "subjectKeyDescriptor", "subjectName"],
                  "additionalProperties": False,
                  "description": "walt.id's generic CSR; the subject key must be a kms-hosted-key-descriptor",
                  "properties": {
        "type": {"const": "generic"},
        "subjectKeyDescriptor": ref("KeyDescriptor"),
        "subjectName": {"type": "object", "required": ["commonName"], "additionalProperties": False, "properties": {
            "commonName": {"type": "string", "maxLength": 64}, "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
            "stateOrProvinceName": {"type": "string", "maxLength": 128}, "localityName": {"type": "string", "maxLength": 128},
            "organizationName": {"type": "string", "maxLength": 64},
            "organizationalUnitName": {"type": "string", "maxLength": 64}}},
        "subjectAlternativeNames": {"type": "object", "additionalProperties": False,
                                    "description": "at most 100 names in all", "properties": {
            "dnsNames": {"type": "array", "items": {"type": "string"}},
            "emailAddresses": {"type": "array", "items": {"type": "string"}},
            "uris": {"type": "array", "items": {"type": "string"}},
            "ipAddresses": {"type": "array", "items": {"type": "string"}}}}}},
    "CsrCreated": {"type": "object", "required": ["csrPem", "subjectKeyIdPath"], "properties": {
        "csrPem": {"type": "string", "description": "PEM CERTIFICATE REQUEST (PKCS#10), signed by the subject key"},
        "subjectKeyIdPath": ref("Target")}},
    "VicalPublish": {"type": "object", "additionalProperties": False,
                     "description": "deep-merged over the stored default request publish-vical (the call's values win)",
                     "properties": {
        "vicalProvider": {"type": "string", "maxLength": 256, "description": "required here or in the default request"},
        "versionId": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "description": "a UUID when left out"},
        "issuanceDate": {"type": "string", "format": "date-time", "description": "now when left out"},
        "nextUpdate": {"type": "string", "format": "date-time", "description": "after issuanceDate"},
        "skipInvalid": {"type": "boolean", "default": False,
                        "description": "leave out expired or non-IACA vical-entry certificates instead of a 400"}}},
    "VicalPublished": {"type": "object", "required": ["versionIdPath", "version", "entryCount", "vicalProvider", "date",
                                                      "vicalIssueId", "sha256"], "properties": {
        "versionIdPath": {"type": "string", "description": "{service}.versions.{versionId}"},
        "version": {"const": "1.0"}, "entryCount": {"type": "integer"}, "vicalProvider": {"type": "string"},
        "date": {"type": "string", "format": "date-time"}, "vicalIssueId": {"type": "integer"},
        "nextUpdate": {"type": "string", "format": "date-time"},
        "sha256": {"type": "string", "description": "SHA-256 of the signed VICAL (hex)"},
        "skipped": {"type": "array", "items": {"type": "string"}, "description": "entries left out (skipInvalid)"},
        "registry": {"type": "object", "required": ["object", "published"],
                     "description": "with config.registry: the registry copy of this version",
                     "properties": {"object": {"type": "string", "description": "vicals/<service>/latest.cbor"},
                                    "published": {"type": "boolean"},
                                    "message": {"type": "string", "description": "why not (the refresh retries)"}}}}},
    "Revoke": {"type": "object", "additionalProperties": False,
               "description": "exactly one of serialNumber and storedCertificatePath", "properties": {
        "serialNumber": {"type": "string", "description": "hex, colons optional"},
        "storedCertificatePath": names(ref("Target"), "certificate", "x509-store-certificate-view"),
        "reason": {"enum": ["unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
                            "cessationOfOperation", "privilegeWithdrawn", "aACompromise"]},
        "revocationDate": {"type": "string", "format": "date-time"}}},
    "IssuedRecord": {"type": "object", "required": ["_id", "profile", "serialNumber", "state"], "properties": {
        "_id": ref("Target"),
        "profile": {"enum": ["iaca", "document-signer", "status-list-signer", "unknown"],
                    "description": "unknown: a certificate whose record was lost, known from the published CRL "
                                   "that revoked it (subject, validity and PEM are null)"},
        "serialNumber": {"type": "string"}, "subject": {"type": ["string", "null"]}, "issuer": {"type": "string"},
        "iacaSerialNumber": {"type": ["string", "null"]}, "state": {"enum": ["valid", "revoked"]},
        "revocation": {"type": ["object", "null"]}, "certificatePEM": {"type": ["string", "null"]},
        "crlPublished": {"type": "boolean"}, "crl": JSON_OBJ}},
    "ReportRow": {"type": "object", "description": "one certificate of the audit report (the CSV has the same "
                                                   "columns in this order)", "properties": {
        "id": ref("Target"), "profile": {"enum": ["iaca", "document-signer", "status-list-signer", "unknown"]},
        "serialNumber": {"type": "string"}, "iacaSerialNumber": {"type": ["string", "null"]},
        "subject": {"type": ["string", "null"]}, "issuer": {"type": "string"},
        "notBefore": {"type": ["string", "null"], "format": "date-time"},
        "notAfter": {"type": ["string", "null"], "format": "date-time"},
        "sha256Fingerprint": {"type": ["string", "null"]}, "keyPath": {"type": ["string", "null"]},
        "state": {"enum": ["valid", "revoked"]},
        "revocationDate": {"type": ["string", "null"], "format": "date-time"},
        "revocationReason": {"type": ["string", "null"]}, "createdAt": {"type": "string"}}},
    "Crl": {"type": "object", "required": ["iaca", "iacaSerialNumber"], "properties": {
        "iaca": ref("Target"), "iacaSerialNumber": {"type": "string"}, "iacaSubject": {"type": "string"},
        "url": {"type": ["string", "null"]}, "number": {"type": ["integer", "null"]},
        "thisUpdate": {"type": ["string", "null"]}, "nextUpdate": {"type": ["string", "null"]},
        "revokedCount": {"type": "integer"}, "lastPublishError": {"type": ["string", "null"]},
        "lastPublishErrorAt": {"type": ["string", "null"]}, "consecutiveFailures": {"type": "integer"},
        "pending": {"type": "boolean"}}},
    "IssuedCertificate": {"type": "object", "required": ["certificatePEM", "certificateData"], "properties": {
        "certificatePEM": {"type": "string"}, "certificateData": JSON_OBJ,
        "storedCertificateIds": {"type": "array", "items": ref("Target")}}},
    "StoreCertificate": {"type": "object", "required": ["type", "certificatePem"], "additionalProperties": False,
                         "properties": {"type": {"enum": ["base", "vical-entry"]}, "certificatePem": {"type": "string"},
                                        "complementaryMetadata": JSON_OBJ}},
    "StoredCertificate": {"type": "object", "required": ["_id", "data"], "properties": {
        "_id": ref("Target"), "parent": ref("Target"),
        "data": {"type": "object", "required": ["type", "pem"], "properties": {
            "type": {"enum": ["base", "vical-entry"]}, "pem": {"type": "string"}, "complementaryMetadata": JSON_OBJ}},
        "subject": {"type": "string"}, "issuer": {"type": "string"}, "serialNumber": {"type": "string"},
        "notBefore": {"type": "string", "format": "date-time"}, "notAfter": {"type": "string", "format": "date-time"},
        "sha256Fingerprint": {"type": "string"}, "version": {"type": "integer"}, "createdAt": {"type": "string"}}},
    "StatusConfigCreate": {"type": "object", "required": ["kid", "config"], "additionalProperties": False, "properties": {
        "kid": names(ref("Target"), "key", "kms-key-use"), "did": {"type": "string"},
        "x5Chain": {"type": "array", "items": {"type": "string"}},
        "x5ChainFrom": names(ref("Target"), "certificate", "x509-store-certificate-view"),
        "config": {"type": "object", "required": ["type"], "additionalProperties": False, "properties": {
            "type": {"enum": ["TokenStatusList", "BitstringStatusList", "StatusList2021", "RevocationList2020"]},
            "format": {"enum": ["JWT", "CWT"]}, "purpose": {"enum": ["revocation", "suspension", "message", "refresh"]},
            "statusSize": {"enum": [1, 2, 4, 8]},
            "statuses": {"type": "array", "items": {"type": "object", "required": ["status", "message"],
                                                    "properties": {"status": {"type": "string"}, "message": {"type": "string"}}}},
            "size": {"type": "integer", "minimum": 1024, "maximum": 16777216},
            "ttl": {"type": "integer", "minimum": 60}, "validity": {"type": "integer", "minimum": 300}}}}},
    "StatusConfig": {"allOf": [ref("Resource"), {"type": "object", "properties": {
        "kid": ref("Target"), "config": JSON_OBJ, "lists": {"type": "array", "items": {"type": "string"}}}}]},
    "Allocate": {"type": "object", "additionalProperties": False, "properties": {
        "count": {"type": "integer", "minimum": 1, "maximum": 1000}, "initialStatus": {"type": "string"}}},
    "Allocated": {"type": "object", "required": ["entries"], "properties": {"entries": {"type": "array", "items": {
        "type": "object", "required": ["id", "list", "index", "uri", "embed"], "properties": {
            "id": {"type": "string"}, "list": {"type": "string"}, "index": {"type": "integer"}, "uri": {"type": "string"},
            "embed": JSON_OBJ}}}, "published": {"type": "boolean"}}},
    "StatusUpdateOne": {"type": "object", "required": ["status"], "additionalProperties": False, "properties": {
        "entry": {"type": "string"}, "session": {"type": "string"}, "index": {"type": "integer"}, "list": {"type": "string"},
        "status": {"type": "string", "description": "hex (0x1) or decimal"}}},
    "StatusUpdate": {"oneOf": [ref("StatusUpdateOne"), {"type": "object", "required": ["updates"], "properties": {
        "updates": {"type": "array", "maxItems": 1000, "items": ref("StatusUpdateOne")}}}]},
    "StatusUpdated": {"type": "object", "required": ["updated", "published", "pendingChanges"], "properties": {
        "updated": {"type": "integer"},
        "published": {"type": "boolean",
                      "description": "true once every change of the request is in a published list; false: stored, "
                                     "published by the lease holder or the refresh"},
        "pendingChanges": {"type": "integer", "description": "changes of the lists touched not folded yet"},
        "publishError": {"type": "string", "description": "why a publish failed, when one did"}}},
}

P_TARGET = {"name": "target", "in": "path", "required": True, "schema": ref("Target")}
P_API = {"name": "api", "in": "path", "required": True,
         "schema": {"enum": ["kms-service-api", "x509-service-api", "x509-store-api", "credential-status-service-api",
                             "vical-service-api"]}}
P_PAGE = [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
          {"name": "offset", "in": "query", "description": "items to skip (not with cursor)",
           "schema": {"type": "integer", "minimum": 0, "maximum": 10000}},
          {"name": "cursor", "in": "query", "schema": {"type": "string"}}]


def body(schema, text=False):
    content = {"application/json": {"schema": schema}}
    if text:
        content["text/plain"] = {"schema": ref("Target")}
    return {"required": True, "content": content}


def json_resp(desc, schema, headers=None):
    r = {"description": desc, "content": {"application/json": {"schema": schema}}}
    if headers:
        r["headers"] = headers
    return r


# function -> (summary, tag, request body, success code, success response, error codes)
OPS = {
    "health": ("Liveness", "health", None, "200", json_resp("up", ref("Health")), []),
    "console": ("The operator console (a single-page app; any path below /console/ that is not an asset is the app, "
                "config.json what it needs to sign in)", "console", None, "200",
                {"description": "the page or asset", "content": {"text/html": {"schema": {"type": "string"}}}}, ["404"]),
    "organizations-create": ("Create an organization (administrator only); also creates the role {org}.admin",
                             "resource-api", body(ref("OrganizationCreate")), "201", json_resp("created", ref("Resource")),
                             ["400", "401", "403", "409", "413", "415"]),
    "tenants-create": ("Create a tenant or sub-tenant; the target is the new tenant's id", "resource-api",
                       body(ref("TenantCreate")), "201", json_resp("created", ref("Resource")),
                       ["400", "401", "403", "404", "409", "413", "415"]),
    "services-create": ("Create a service in a tenant; the target is the new service's id", "resource-api",
                        body(ref("ServiceCreate")), "201", json_resp("created", ref("Service")),
                        ["400", "401", "403", "404", "409", "413", "415"]),
    "resources-list": ("Immediate children of a resource, one page; the next page's cursor is in x-next-cursor",
                       "resource-api", None, "200",
                       json_resp("children", {"type": "array", "items": ref("Resource")},
                                 {"x-next-cursor": {"schema": {"type": "string"}, "description": "cursor of the next page"}}),
                       ["400", "401", "403", "404"]),
    "resources-delete": ("Delete a resource without children or dependants", "resource-api", None, "202",
                         json_resp("deleted", ref("Deleted")), ["400", "401", "403", "404", "409"]),
    "resources-delete-recursive": ("Delete a resource, its subtree, and every dependency edge touching it",
                                   "resource-api", None, "202", json_resp("deleted", ref("Deleted")),
                                   ["400", "401", "403", "404", "409"]),
    "configuration-view": ("A service's document with its dependencies (secrets redacted)", "service-api", None, "200",
                           json_resp("the service", ref("Service")), ["400", "401", "403", "404"]),
    "configuration-update": ("Replace a service's config", "service-api", body(ref("ServiceUpdate")), "200",
                             {"description": "replaced"}, ["400", "401", "403", "404", "409", "413", "415"]),
    "dependencies-add": ("Attach a dependency (raw text path, JSON string, or {dependency})", "service-api",
                         body(ref("DependencyBody"), text=True), "201", json_resp("attached", ref("DependencyAdded")),
                         ["400", "401", "403", "404", "409", "413", "415"]),
    "dependencies-remove": ("Detach a dependency", "service-api", body(ref("DependencyBody"), text=True), "204",
                            {"description": "detached"}, ["400", "401", "403", "404", "413", "415"]),
    "dependencies-list": ("A service's dependencies", "service-api", None, "200",
                          json_resp("dependency paths", {"type": "array", "items": ref("Target")}), ["400", "401", "403", "404"]),
    "audit-query": ("A page of an organization's audit log (view-audit-log on the target; entries about the "
                    "target's subtree, in sequence order; the next page's cursor is in x-next-cursor)", "audit",
                    body(ref("AuditQuery")), "200",
                    json_resp("entries", {"type": "array", "items": ref("AuditEntry")},
                              {"x-next-cursor": {"schema": {"type": "string"}, "description": "cursor of the next page"}}),
                    ["400", "401", "403", "413", "415"]),
    "audit-checkpoints": ("An organization's signed audit checkpoints, newest first, with the public key (JWK) they "
                          "verify with (view-audit-log on the organization)", "audit", None, "200",
                          json_resp("checkpoints", ref("AuditCheckpoints"),
                                    {"x-next-cursor": {"schema": {"type": "string"}, "description": "cursor of the next page"}}),
                          ["400", "401", "403"]),
    "events-query": ("Operational events (issuance, revocation, status changes, publishes) derived from the audit "
                     "log, walt.id's Events and Metrics shape: the body filters (field -> accepted values), groupBy "
                     "counts (view-audit-log on the organization; the organization's last 10,000 log entries)",
                     "audit", body({"type": "object", "additionalProperties": {"type": "array"}}), "200",
                     json_resp("events, or [{_id, count}] with groupBy", {"type": "array", "items": {"type": "object"}}),
                     ["400", "401", "403", "413", "415"]),
    "audit-verify": ("Recompute an organization's audit chain (view-audit-log on the organization)", "audit",
                     body(ref("AuditVerifyRequest")), "200", json_resp("the verification", ref("AuditVerification")),
                     ["400", "401", "403", "413", "415"]),
    "api-keys-create": ("Create an API key in an organization; the token is returned once", "apikeys-api",
                        body(ref("ApiKeyCreate")), "201", json_resp("created", ref("ApiKeyCreated")),
                        ["400", "401", "403", "404", "409", "413", "415"]),
    "api-keys-list": ("An organization's API keys (never their tokens)", "apikeys-api", None, "200",
                      json_resp("keys", {"type": "array", "items": ref("ApiKey")}), ["400", "401", "403", "404"]),
    "api-keys-delete": ("Delete an API key; its token stops working at once", "apikeys-api", None, "204",
                        {"description": "deleted"}, ["400", "401", "403", "404"]),
    "roles-create": ("Create a role in an organization", "roles-api", body(ref("RoleCreate")), "201",
                     json_resp("created", ref("Role")), ["400", "401", "403", "404", "409", "413", "415"]),
    "roles-list": ("An organization's roles", "roles-api", None, "200",
                   json_resp("roles", {"type": "array", "items": ref("Role")}), ["400", "401", "403", "404"]),
    "roles-external-mappings": ("Map a value of the single sign-on roles claim to the role (201 new, 200 replaced); "
                                "the caller must hold every right the role grants",
                                "roles-api", body(ref("RoleMappingBody")), "200", json_resp("the mapping", ref("RoleMapping")),
                                ["400", "401", "403", "404", "409", "413", "415"]),
    "roles-apikey-assign": ("Give an existing API key the role (the caller must hold every right it grants)",
                            "roles-api", body(ref("RoleAssignment")), "200", json_resp("the key", ref("ApiKey")),
                            ["400", "401", "403", "404", "409", "413", "415"]),
    "roles-apikey-unassign": ("Take the role away from an API key", "roles-api", body(ref("RoleAssignment")), "200",
                              json_resp("the key", ref("ApiKey")), ["400", "401", "403", "404", "409", "413", "415"]),
    "keys-generate": ("Generate an asymmetric EC signing key in AWS KMS; the target is the new key's id",
                      "kms-service-api", body(ref("KeyGenerate")), "201", json_resp("created", ref("Key")),
                      ["400", "401", "403", "404", "409", "413", "415"]),
    "keys-import-aws": ("Adopt an existing KMS key (ECC NIST P-256/384/521, SIGN_VERIFY)", "kms-service-api",
                        body(ref("KeyImportAws")), "201", json_resp("adopted", ref("Key")),
                        ["400", "401", "403", "404", "409", "413", "415"]),
    "keys-list": ("The keys of a kms service", "kms-service-api", None, "200",
                  json_resp("keys", {"type": "array", "items": ref("Key")}), ["400", "401", "403", "404"]),
    "keys-view": ("One key: public JWK and KMS ARN", "kms-service-api", None, "200", json_resp("key", ref("Key")),
                  ["400", "401", "403", "404"]),
    "keys-delete": ("Schedule the KMS key for deletion (30 days; adopted keys are kept) and remove the record",
                    "kms-service-api", None, "202", json_resp("deleted", ref("Deleted")), ["400", "401", "403", "404"]),
    "x509-iacas-issue": ("Issue an ISO 18013-5 IACA root certificate signed by a KMS key", "x509-service-api",
                         body(ref("IssueIaca")), "201", json_resp("issued", ref("IssuedCertificate")),
                         ["400", "401", "403", "404", "409", "413", "415"]),
    "x509-document-signers-issue": ("Issue an ISO 18013-5 Document Signer certificate signed by the IACA's KMS key",
                                    "x509-service-api", body(ref("IssueDocumentSigner")), "201",
                                    json_resp("issued", ref("IssuedCertificate")),
                                    ["400", "401", "403", "404", "409", "413", "415"]),
    "x509-status-list-signers-issue": ("Issue a status-list signer certificate (18013-5 2nd edition) under an IACA",
                                       "x509-service-api", body(ref("IssueStatusListSigner")), "201",
                                       json_resp("issued", ref("IssuedCertificate")),
                                       ["400", "401", "403", "404", "409", "413", "415"]),
    "x509-vical-signers-issue": ("Issue a VICAL signer certificate (extended key usage 1.0.18013.5.1.8) under an IACA",
                                 "x509-service-api", body(ref("IssueVicalSigner")), "201",
                                 json_resp("issued", ref("IssuedCertificate")),
                                 ["400", "401", "403", "404", "409", "413", "415"]),
    "x509-csrs": ("Create a PKCS#10 certification request for a key of an attached kms service, signed by that key "
                  "(walt.id's generic CSR)", "x509-service-api", body(ref("CsrCreate")), "201",
                  json_resp("created", ref("CsrCreated")), ["400", "401", "403", "404", "413", "415"]),
    "vical-publish": ("Publish a new VICAL version: every vical-entry certificate of the attached stores, one KMS Sign",
                      "vical-service-api", body(ref("VicalPublish")), "201", json_resp("published", ref("VicalPublished")),
                      ["400", "401", "403", "404", "409", "413", "415"]),
    "vical-versions": ("The paths of every published version, oldest first", "vical-service-api", None, "200",
                       json_resp("version paths", {"type": "array", "items": {"type": "string"}}),
                       ["400", "401", "403", "404"]),
    "status-lists-get": ("PUBLIC: a status list as relying parties fetch it (IETF Token Status List draft): the "
                         "configuration's token, or with ?time= the one valid then (no token)",
                         "credential-status-service-api", None, "200",
                         {"description": "the signed list: application/statuslist+jwt, application/statuslist+cwt or "
                                         "application/vc+jwt (W3C lists), negotiated with Accept (406 otherwise); "
                                         "strong ETag and 304 on If-None-Match while the token is valid; "
                                         "Cache-Control never past the token's ttl or exp; 302 to the registry copy "
                                         "of a token too large to keep in the table",
                          "content": {"application/statuslist+jwt": {"schema": {"type": "string"}},
                                      "application/statuslist+cwt": {"schema": {"type": "string", "format": "binary"}},
                                      "application/vc+jwt": {"schema": {"type": "string"}}}},
                         ["400", "404", "406", "501"]),
    "vical-registry": ("PUBLIC: the latest VICAL of a service, or one version by its path (no token)",
                       "vical-service-api", None, "200",
                       {"description": "the signed VICAL (COSE_Sign1): hex text (default), base64 text or raw CBOR; "
                                       "ETag, Cache-Control not past nextUpdate; 304 on If-None-Match",
                        "content": {"text/plain": {"schema": {"type": "string"}},
                                    "application/cbor": {"schema": {"type": "string", "format": "binary"}}}},
                       ["400", "404"]),
    "default-requests": ("Store a default request: a partial body deep-merged under every call of the operation "
                         "(the call's values win); needs update-default-requests and the operation's own action",
                         "default-requests", body(JSON_OBJ), "200", json_resp("stored", JSON_OBJ),
                         ["400", "401", "403", "404", "409", "413", "415"]),
    "vical-default-requests": ("Store the default publish-vical request (merged under every publish body)",
                               "vical-service-api", body(ref("VicalPublish")), "200",
                               json_resp("stored", JSON_OBJ), ["400", "401", "403", "404", "409", "413", "415"]),
    "x509-certificates-revoke": ("Revoke a certificate an IACA of this service signed and republish its CRL",
                                 "x509-service-api", body(ref("Revoke")), "200", json_resp("revoked", ref("IssuedRecord")),
                                 ["400", "401", "403", "404", "409", "413", "415"]),
    "x509-certificates-issued": ("What the service issued, one page: its IACAs, or with iaca=<serial> what that IACA signed",
                                 "x509-service-api", None, "200",
                                 json_resp("issued", {"type": "array", "items": ref("IssuedRecord")}),
                                 ["400", "401", "403", "404"]),
    "x509-certificates-report": ("Audit report: every certificate the service issued with its revocation state, as CSV or "
                                 "JSON, up to 10,000 rows a page; the page's SHA-256 (x-report-sha256) is in the audit log",
                                 "x509-service-api", None, "200",
                                 {"description": "report page (x-report-sha256: SHA-256 of the body; x-next-cursor)",
                                  "content": {"text/csv": {"schema": {"type": "string"}},
                                              "application/json": {"schema": {"type": "array",
                                                                              "items": ref("ReportRow")}}}},
                                 ["400", "401", "403", "404"]),
    "x509-crls": ("Per IACA: its CRL's number, thisUpdate, nextUpdate, revoked count, URL and last publish error",
                  "x509-service-api", None, "200", json_resp("CRLs", {"type": "array", "items": ref("Crl")}),
                  ["400", "401", "403", "404"]),
    "store-certificates-add": ("Store a certificate: on the store path (generated id) or on store.certId",
                               "x509-store-api", body(ref("StoreCertificate")), "201",
                               json_resp("stored", ref("StoredCertificate")),
                               ["400", "401", "403", "404", "409", "413", "415"]),
    "store-certificates-get": ("On the store path: a page of records (cursor in x-next-cursor); on store.certId: one record",
                               "x509-store-api", None, "200",
                               json_resp("records or one record", {"oneOf": [
                                   {"type": "array", "items": ref("StoredCertificate")}, ref("StoredCertificate")]}),
                               ["400", "401", "403", "404"]),
    "store-certificates-ids": ("The ids of a store's certificates, one page", "x509-store-api", None, "200",
                               json_resp("ids", {"type": "array", "items": ref("Target")}), ["400", "401", "403", "404"]),
    "store-certificates-update": ("Replace a stored certificate", "x509-store-api", body(ref("StoreCertificate")), "200",
                                  json_resp("replaced", ref("StoredCertificate")),
                                  ["400", "401", "403", "404", "409", "413", "415"]),
    "store-certificates-delete": ("Delete a stored certificate", "x509-store-api", None, "202",
                                  json_resp("deleted", ref("Deleted")), ["400", "401", "403", "404"]),
    "status-credential-create": ("Create a status credential configuration (publishes nothing yet)",
                                 "credential-status-service-api", body(ref("StatusConfigCreate")), "201",
                                 json_resp("created", ref("StatusConfig")), ["400", "401", "403", "404", "409", "413", "415"]),
    "status-credential-entries": ("Allocate random, never reused entries; the first allocation publishes the list",
                                  "credential-status-service-api", body(ref("Allocate")), "201",
                                  json_resp("allocated", ref("Allocated")), ["400", "401", "403", "404", "409", "413", "415", "422"]),
    "status-credential-update": ("Set statuses (revoke, suspend, reinstate) and republish",
                                 "credential-status-service-api", body(ref("StatusUpdate")), "200",
                                 json_resp("updated", ref("StatusUpdated")), ["400", "401", "403", "404", "409", "413", "415"]),
    "status-credential-view": ("A configuration with its lists, fill levels and publish state",
                               "credential-status-service-api", None, "200", json_resp("configuration", JSON_OBJ),
                               ["400", "401", "403", "404"]),
}

P_IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
                 "description": "A retry with the same key (within 24 hours) answers the same entries instead of "
                                "allocating again; the same key with another count or initialStatus is a 422.",
                 "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}}

ERRORS = {"400": "invalid input", "401": "missing, invalid or expired token", "403": "not permitted",
          "404": "not found", "409": "duplicate target or conflict", "413": "body larger than 256 KiB",
          "415": "unsupported Content-Type", "422": "Idempotency-Key reused for another request",
          "406": "the resource is not available in an Accepted media type",
          "501": "not offered by this deployment"}


# The default requests' operations (shared/domain/src/defaults.rs) and their service APIs.
DEFAULT_OPERATIONS = [("generate-key", "kms-service-api"), ("issue-iaca", "x509-service-api"),
                      ("issue-document-signer", "x509-service-api"),
                      ("create-status-credential", "credential-status-service-api"),
                      ("create-status-entries", "credential-status-service-api")]


def render():
    paths = {}
    for method, route, fn in template_routes():
        if fn not in OPS:
            raise SystemExit(f"openapi.py: no metadata for function {fn}; add it to OPS")
        summary, tag, req, code, ok, errs = OPS[fn]
        op = {"operationId": fn, "summary": summary, "tags": [tag], "x-function": fn}
        params = []
        if "{target}" in route:
            params.append(P_TARGET)
        if "{api}" in route:
            params.append(P_API)
        if fn in ("resources-list", "store-certificates-get", "store-certificates-ids", "x509-certificates-issued",
                  "status-credential-view", "roles-list", "api-keys-list", "keys-list"):
            params += P_PAGE
        if fn == "x509-certificates-issued":
            params += [{"name": "iaca", "in": "query", "description": "an IACA's serial: what it signed",
                        "schema": {"type": "string"}},
                       {"name": "state", "in": "query", "schema": {"enum": ["valid", "revoked"]}}]
        if fn == "x509-certificates-report":
            params += [{"name": "format", "in": "query", "schema": {"enum": ["csv", "json"], "default": "csv"}},
                       {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000}},
                       {"name": "cursor", "in": "query", "schema": {"type": "string"}}]
        if fn == "status-credential-entries":
            params.append(P_IDEMPOTENCY)
        if fn == "vical-registry":
            params += [{"name": "format", "in": "query", "schema": {"enum": ["hex", "base64", "cbor"], "default": "hex"}},
                       {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}]
        if fn == "status-lists-get":
            params += [{"name": "listId", "in": "path", "required": True, "schema": {"type": "string"}},
                       {"name": "time", "in": "query", "description": "Unix seconds: the token valid then "
                        "(the newest issued at or before it, unless it had expired)",
                        "schema": {"type": "integer", "minimum": 1}},
                       {"name": "Accept", "in": "header", "required": False, "schema": {"type": "string"}},
                       {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}]
        if fn == "events-query":
            params += [{"name": "organization", "in": "query", "required": True, "schema": ref("Target")},
                       {"name": "groupBy", "in": "query", "description": "a dotted field, e.g. status.type",
                        "schema": {"type": "string"}}]
        if fn == "audit-checkpoints":
            params += [{"name": "organization", "in": "query", "required": True, "schema": ref("Target")},
                       P_PAGE[0], {"name": "cursor", "in": "query", "description": "below this sequence number",
                                   "schema": {"type": "string"}}]
        if params:
            op["parameters"] = params
        if req:
            op["requestBody"] = req
        op["responses"] = {code: ok}
        for e in errs + ["503"]:
            op["responses"][e] = {"$ref": f"#/components/responses/E{e}"}
        if route in public_routes():
            op["security"] = []
        if fn == "default-requests":
            api = route.split("/")[3]
            names = [o for o, a in DEFAULT_OPERATIONS if a == api]
            op = {**op, "operationId": f"{fn}-{api}-{method.lower()}", "tags": [api],
                  "parameters": params + [{"name": "operation", "in": "path", "required": True,
                                           "schema": {"enum": names}}]}
            if method == "DELETE":
                op = {**op, "summary": "Remove a default request",
                      "responses": {"204": {"description": "removed"},
                                    **{e: {"$ref": f"#/components/responses/E{e}"}
                                       for e in ["400", "401", "403", "404", "409", "503"]}}}
                op.pop("requestBody", None)
        if fn == "console" and "{proxy+}" in route:
            op = {**op, "operationId": "console-asset", "summary": "A console asset (app.js, app.css, config.json) or page",
                  "parameters": [{"name": "proxy+", "in": "path", "required": True, "schema": {"type": "string"}}]}
        if fn == "roles-external-mappings":
            if "{externalRole}" in route:
                op["parameters"] = params + [{"name": "externalRole", "in": "path", "required": True,
                                              "schema": {"type": "string", "minLength": 1, "maxLength": 256}}]
                op["responses"]["201"] = {"description": "mapping created",
                                          "content": {"application/json": {"schema": ref("RoleMapping")}}}
            op = {**op, "operationId": f"{fn}-{method.lower()}"}
            if method == "GET":
                op = {**op, "summary": "The organization's external role mappings (on an organization) or one role's",
                      "responses": {"200": json_resp("mappings", {"type": "array", "items": ref("RoleMapping")}),
                                    **{e: {"$ref": f"#/components/responses/E{e}"} for e in ["400", "401", "403", "404", "503"]}}}
                op.pop("requestBody", None)
            if method == "DELETE":
                op = {**op, "summary": "Remove the mapping",
                      "responses": {"204": {"description": "removed"},
                                    **{e: {"$ref": f"#/components/responses/E{e}"} for e in ["400", "401", "403", "404", "409", "503"]}}}
                op.pop("requestBody", None)
        if fn == "vical-default-requests" and method == "DELETE":
            op = {**op, "operationId": f"{fn}-delete", "summary": "Remove the default publish-vical request",
                  "responses": {"204": {"description": "removed"},
                                **{e: {"$ref": f"#/components/responses/E{e}"} for e in ["400", "401", "403", "404", "409", "503"]}}}
            op.pop("requestBody", None)
        paths.setdefault(route, {})[method.lower()] = op
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "trustfn", "version": "0.1.0",
                 "description": "Serverless trust services in the Enterprise API shape. Generated from template.yaml "
                                "by infra/scripts/openapi.py - do not edit by hand."},
        "servers": [{"url": "http://127.0.0.1:9000", "description": "make run"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "the admin token or an API key token (tfk_...)"}},
            "schemas": SCHEMAS,
            "responses": {f"E{c}": json_resp(d, ref("Error")) for c, d in {**ERRORS, "503": "storage unavailable"}.items()},
        },
    }
    return yaml.safe_dump(spec, sort_keys=False, width=120, allow_unicode=True)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "check"
    text = render()
    if cmd == "write":
        OUT.write_text(text)
    elif cmd == "check":
        if not OUT.exists() or OUT.read_text() != text:
            print("infra/openapi.yaml is stale; run: python infra/scripts/openapi.py write", file=sys.stderr)
            sys.exit(1)
    else:
        raise SystemExit(__doc__)
