//! Certificate fixtures from tls.md (libp2p/specs `tls/tls.md` and rust-libp2p
//! `transports/tls` tests): valid ones map to the expected PeerId, invalid ones are
//! rejected with the right error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use leanp2p_identity::tls::{self, CertificateError, Libp2pCertificate};
use leanp2p_identity::{KeyType, PeerId};

/// 2026-11-21T00:00:00Z: a fixed verification time inside every fixture's window.
const NOW_UNIX: u64 = 1_795_219_200;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_UNIX)
}

fn der(hex_lines: &[&str]) -> Vec<u8> {
    hex::decode(hex_lines.concat()).unwrap()
}

const SPEC_1_ED25519: &[&str] = &[
    "308201ae30820156a0030201020204499602d2300a06082a8648ce3d040302302031123010060355040a1309",
    "6c69627032702e696f310a300806035504051301313020170d3735303130313133303030305a180f34303936",
    "303130313133303030305a302031123010060355040a13096c69627032702e696f310a300806035504051301",
    "313059301306072a8648ce3d020106082a8648ce3d030107034200040c901d423c831ca85e27c73c263ba132",
    "721bb9d7a84c4f0380b2a6756fd601331c8870234dec878504c174144fa4b14b66a651691606d8173e55bd37",
    "e381569ea37c307a3078060a2b0601040183a25a0101046a3068042408011220a77f1d92fedb59dddaea5a1c",
    "4abd1ac2fbde7d7b879ed364501809923d7c11b90440d90d2769db992d5e6195dbb08e706b6651e024fda6cf",
    "b8846694a435519941cac215a8207792e42849cccc6cd8136c6e4bde92a58c5e08cfd4206eb5fe0bf909300a",
    "06082a8648ce3d0403020346003043021f50f6b6c52711a881778718238f650c9fb48943ae6ee6d28427dc60",
    "71ae55e702203625f116a7a454db9c56986c82a25682f7248ea1cb764d322ea983ed36a31b77",
];

const SPEC_2_ECDSA: &[&str] = &[
    "308201f63082019da0030201020204499602d2300a06082a8648ce3d040302302031123010060355040a1309",
    "6c69627032702e696f310a300806035504051301313020170d3735303130313133303030305a180f34303936",
    "303130313133303030305a302031123010060355040a13096c69627032702e696f310a300806035504051301",
    "313059301306072a8648ce3d020106082a8648ce3d030107034200040c901d423c831ca85e27c73c263ba132",
    "721bb9d7a84c4f0380b2a6756fd601331c8870234dec878504c174144fa4b14b66a651691606d8173e55bd37",
    "e381569ea381c23081bf3081bc060a2b0601040183a25a01010481ad3081aa045f0803125b3059301306072a",
    "8648ce3d020106082a8648ce3d03010703420004bf30511f909414ebdd3242178fd290f093a551cf75c97315",
    "5de0bb5a96fedf6cb5d52da7563e794b512f66e60c7f55ba8a3acf3dd72a801980d205e8a1ad29f204473045",
    "0220064ea8124774caf8f50e57f436aa62350ce652418c019df5d98a3ac666c9386a022100aa59d704a931b5",
    "f72fb9222cb6cc51f954d04a4e2e5450f8805fe8918f71eaae300a06082a8648ce3d04030203470030440220",
    "799395b0b6c1e940a7e4484705f610ab51ed376f19ff9d7c16757cfbf61b8d4302206205c03fbb0f95205c77",
    "9be86581d3e31c01871ad5d1f3435bcf375cb0e5088a",
];

const SPEC_3_SECP256K1: &[&str] = &[
    "308201ba3082015fa0030201020204499602d2300a06082a8648ce3d040302302031123010060355040a1309",
    "6c69627032702e696f310a300806035504051301313020170d3735303130313133303030305a180f34303936",
    "303130313133303030305a302031123010060355040a13096c69627032702e696f310a300806035504051301",
    "313059301306072a8648ce3d020106082a8648ce3d030107034200040c901d423c831ca85e27c73c263ba132",
    "721bb9d7a84c4f0380b2a6756fd601331c8870234dec878504c174144fa4b14b66a651691606d8173e55bd37",
    "e381569ea38184308181307f060a2b0601040183a25a01010471306f0425080212210206dc6968726765b820",
    "f050263ececf7f71e4955892776c0970542efd689d2382044630440220145e15a991961f0d08cd15425bb95e",
    "c93f6ffa03c5a385eedc34ecf464c7a8ab022026b3109b8a3f40ef833169777eb2aa337cfb6282f188de0666",
    "d1bcec2a4690dd300a06082a8648ce3d0403020349003046022100e1a217eeef9ec9204b3f774a08b7084964",
    "6b6a1e6b8b27f93dc00ed58545d9fe022100b00dafa549d0f03547878338c7b15e7502888f6d45db387e5ae6",
    "b5d46899cef0",
];

const SPEC_4_BAD_SIGNATURE: &[&str] = &[
    "308201f73082019da0030201020204499602d2300a06082a8648ce3d040302302031123010060355040a1309",
    "6c69627032702e696f310a300806035504051301313020170d3735303130313133303030305a180f34303936",
    "303130313133303030305a302031123010060355040a13096c69627032702e696f310a300806035504051301",
    "313059301306072a8648ce3d020106082a8648ce3d030107034200040c901d423c831ca85e27c73c263ba132",
    "721bb9d7a84c4f0380b2a6756fd601331c8870234dec878504c174144fa4b14b66a651691606d8173e55bd37",
    "e381569ea381c23081bf3081bc060a2b0601040183a25a01010481ad3081aa045f0803125b3059301306072a",
    "8648ce3d020106082a8648ce3d03010703420004bf30511f909414ebdd3242178fd290f093a551cf75c97315",
    "5de0bb5a96fedf6cb5d52da7563e794b512f66e60c7f55ba8a3acf3dd72a801980d205e8a1ad29f204473045",
    "022100bb6e03577b7cc7a3cd1558df0da2b117dfdcc0399bc2504ebe7de6f65cade72802206de96e2a5be9b6",
    "202adba24ee0362e490641ac45c240db71fe955f2c5cf8df6e300a06082a8648ce3d04030203480030450221",
    "00e847f267f43717358f850355bdcabbefb2cfbf8a3c043b203a14788a092fe8db022027c1d04a2d41fd6b57",
    "a7e8b3989e470325de4406e52e084e34a3fd56eef0d0df",
];

const RUST_1_ED25519: &[&str] = &[
    "308201773082011ea003020102020900f5bd0debaa597f52300a06082a8648ce3d04030230003020170d3735",
    "303130313030303030305a180f34303936303130313030303030305a30003059301306072a8648ce3d020106",
    "082a8648ce3d030107034200046bf9871220d71dcb3483ecdfcbfcc7c103f8509d0974b3c18ab1f1be1302d6",
    "43103a08f7a7722c1b247ba3876fe2c59e26526f479d7718a85202ddbe47562358a37f307d307b060a2b0601",
    "040183a25a01010101ff046a30680424080112207fda21856709c5ae12fd6e8450623f15f11955d384212b89",
    "f56e7e136d2e17280440aaa6bffabe91b6f30c35e3aa4f94b1188fed96b0ffdd393f4c58c1c047854120e674",
    "ce64c788406d1c2c4b116581fd7411b309881c3c7f20b46e54c7e6fe7f0f300a06082a8648ce3d0403020347",
    "00304402207d1a1dbd2bda235ff2ec87daf006f9b04ba076a5a5530180cd9c2e8f6399e09d0220458527178c",
    "7e77024601dbb1b256593e9b96d961b96349d1f560114f61a87595",
];

const RUST_2_BAD_ED25519: &[&str] = &[
    "308201773082011da003020102020830a73c5d896a1109300a06082a8648ce3d04030230003020170d373530",
    "3130313030303030305a180f34303936303130313030303030305a30003059301306072a8648ce3d02010608",
    "2a8648ce3d03010703420004bbe62df9a7c1c46b7f1f21d556deec5382a36df146fb29c7f1240e60d7d53285",
    "70e3b71d99602b77a65c9b3655f62837f8d66b59f1763b8c9beba3be07778043a37f307d307b060a2b060104",
    "0183a25a01010101ff046a3068042408011220ec8094573afb9728088860864f7bcea2d4fd412fef09a8e2d2",
    "4d482377c20db60440ecabae8354afa2f0af4b8d2ad871e865cb5a7c0c8d3dbdbf42de577f92461a0ebb0a28",
    "703e33581af7d2a4f2270fc37aec6261fcc95f8af08f3f4806581c730a300a06082a8648ce3d040302034800",
    "304502202dfb17a6fa0f94ee0e2e6a3b9fb6e986f311dee27392058016464bd130930a61022100ba4b937a11",
    "c8d3172b81e7cd04aedb79b978c4379c2b5b24d565dd5d67d3cb3c",
];

const RUST_3_ECDSA: &[&str] = &[
    "308201c030820166a003020102020900eaf419a6e3edb4a6300a06082a8648ce3d04030230003020170d3735",
    "303130313030303030305a180f34303936303130313030303030305a30003059301306072a8648ce3d020106",
    "082a8648ce3d030107034200048dbf1116c7c608d6d5292bd826c3feb53483a89fce434bf64538a359c8e075",
    "38ff71f6766239be6a146dcc1a5f3bb934bcd4ae2ae1d4da28ac68b4a20593f06ba381c63081c33081c0060a",
    "2b0601040183a25a01010101ff0481ae3081ab045f0803125b3059301306072a8648ce3d020106082a8648ce",
    "3d0301070342000484b93fa456a74bd0153919f036db7bc63c802f055bc7023395d0203de718ee0fc7b570b7",
    "67cdd858aca6c7c4113ff002e78bd2138ac1a3b26dde3519e06979ad04483046022100bc84014cea5a41feab",
    "df4c161096564b9ccf4b62fbef4fe1cd382c84e11101780221009204f086a84cb8ed8a9ddd7868dc90c792ee",
    "434adf62c66f99a08a5eba11615b300a06082a8648ce3d0403020348003045022054b437be9a2edf591312d6",
    "8ff24bf91367ad4143f76cf80b5658f232ade820da022100e23b48de9df9c25d4c83ddddf75d2676f0b9318e",
    "e2a6c88a736d85eab94a912f",
];

const RUST_4_SECP256K1: &[&str] = &[
    "3082018230820128a003020102020900f3b305f55622cfdf300a06082a8648ce3d04030230003020170d3735",
    "303130313030303030305a180f34303936303130313030303030305a30003059301306072a8648ce3d020106",
    "082a8648ce3d0301070342000458f7e9581748ff9bdd933b655cc0e5552a1248f840658cc221dec2186b5a2f",
    "e4641b86ab7590a3422cdbb1000cf97662f27e5910d7569f22feed8829c8b52e0fa38188308185308182060a",
    "2b0601040183a25a01010101ff0471306f042508021221026b053094d1112bce799dc8026040ae6d4eb57415",
    "7929f1598172061f753d9b1b04463044022040712707e97794c478d93989aaa28ae1f71c03af524a8a4bd2d9",
    "8424948a782302207b61b7f074b696a25fb9e0059141a811cccc4cc28042d9301b9b2a4015e87470300a0608",
    "2a8648ce3d04030203480030450220143ae4d86fdc8675d2480bb6912eca5e39165df7f572d836aa2f2d6acf",
    "ab13f8022100831d1979a98f0c4a6fb5069ca374de92f1a1205c962a6d90ad3d7554cb7d9df4",
];

fn assert_valid(fixture: &[&str], expected: &str, key_type: KeyType) {
    let bytes = der(fixture);
    let expected: PeerId = expected.parse().unwrap();
    assert_eq!(tls::verify_certificate(&bytes, now()), Ok(expected));
    let parsed = Libp2pCertificate::parse(&bytes).unwrap();
    assert_eq!(parsed.peer_id(), expected);
    assert_eq!(parsed.host_public_key().key_type(), key_type);
    let cert = tls::rustls::pki_types::CertificateDer::from(bytes.as_slice());
    assert_eq!(tls::peer_id_from_certificates(&[cert]), Ok(expected));
}

#[test]
fn spec_ed25519_certificate() {
    assert_valid(
        SPEC_1_ED25519,
        "12D3KooWM6CgA9iBFZmcYAHA6A2qvbAxqfkmrYiRQuz3XEsk4Ksv",
        KeyType::Ed25519,
    );
}

#[test]
fn spec_ecdsa_certificate() {
    assert_valid(
        SPEC_2_ECDSA,
        "QmfXbAwNjJLXfesgztEHe8HwgVDCMMpZ9Eax1HYq6hn9uE",
        KeyType::Ecdsa,
    );
}

#[test]
fn spec_secp256k1_certificate() {
    assert_valid(
        SPEC_3_SECP256K1,
        "16Uiu2HAkutTMoTzDw1tCvSRtu6YoixJwS46S1ZFxW8hSx9fWHiPs",
        KeyType::Secp256k1,
    );
}

#[test]
fn spec_certificate_with_bad_signed_key_is_rejected() {
    assert_eq!(
        tls::verify_certificate(&der(SPEC_4_BAD_SIGNATURE), now()),
        Err(CertificateError::ExtensionSignatureInvalid)
    );
}

#[test]
fn rust_libp2p_ed25519_certificate() {
    assert_valid(
        RUST_1_ED25519,
        "12D3KooWJRSrypvnpHgc6ZAgyCni4KcSmbV7uGRaMw5LgMKT18fq",
        KeyType::Ed25519,
    );
}

#[test]
fn rust_libp2p_bad_ed25519_certificate_is_rejected() {
    assert_eq!(
        tls::verify_certificate(&der(RUST_2_BAD_ED25519), now()),
        Err(CertificateError::ExtensionSignatureInvalid)
    );
}

#[test]
fn rust_libp2p_ecdsa_certificate() {
    assert_valid(
        RUST_3_ECDSA,
        "QmZcrvr3r4S3QvwFdae3c2EWTfo792Y14UpzCZurhmiWeX",
        KeyType::Ecdsa,
    );
}

#[test]
fn rust_libp2p_secp256k1_certificate() {
    assert_valid(
        RUST_4_SECP256K1,
        "16Uiu2HAm2dSCBFxuge46aEt7U1oejtYuBUZXxASHqmcfVmk4gsbx",
        KeyType::Secp256k1,
    );
}

/// The spec vectors use UTCTime `750101130000Z` for notBefore: read as 1975, not 2075.
#[test]
fn two_digit_utctime_year_75_is_1975() {
    let bytes = der(SPEC_3_SECP256K1);
    let parsed = Libp2pCertificate::parse(&bytes).unwrap();
    // 1975-01-01T13:00:00Z and 4096-01-01T13:00:00Z.
    assert_eq!(parsed.validity_unix(), (157_813_200, 67_090_165_200));
    // rust-libp2p certificates: 1975-01-01T00:00:00Z.
    let bytes = der(RUST_4_SECP256K1);
    assert_eq!(
        Libp2pCertificate::parse(&bytes).unwrap().validity_unix().0,
        157_766_400
    );
}

#[test]
fn fixtures_are_rejected_outside_their_validity_window() {
    let bytes = der(SPEC_1_ED25519);
    let before = UNIX_EPOCH + Duration::from_secs(157_813_199);
    assert_eq!(
        tls::verify_certificate(&bytes, before),
        Err(CertificateError::NotYetValid {
            not_before: 157_813_200,
            now: 157_813_199
        })
    );
    assert!(tls::verify_certificate(&bytes, UNIX_EPOCH + Duration::from_secs(157_813_200)).is_ok());
    assert_eq!(
        tls::verify_certificate_at_unix(&bytes, 67_090_165_201),
        Err(CertificateError::Expired {
            not_after: 67_090_165_200,
            now: 67_090_165_201
        })
    );
    assert!(tls::verify_certificate_at_unix(&bytes, 67_090_165_200).is_ok());
}

#[test]
fn truncated_and_extended_fixtures_are_rejected() {
    let bytes = der(RUST_4_SECP256K1);
    for len in 0..bytes.len() {
        assert!(
            tls::verify_certificate(&bytes[..len], now()).is_err(),
            "prefix of {len} bytes"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        tls::verify_certificate(&longer, now()),
        Err(CertificateError::Malformed(_))
    ));
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let bytes = der(RUST_4_SECP256K1);
    let expected = tls::verify_certificate(&bytes, now()).unwrap();
    for i in 0..bytes.len() {
        let mut changed = bytes.clone();
        changed[i] ^= 0x01;
        // The signed part is covered by the self-signature, the outer framing is checked
        // as strict DER and the ECDSA signature DER has no slack: nothing may pass.
        if let Ok(peer) = tls::verify_certificate(&changed, now()) {
            panic!("byte {i} flipped and still accepted as {peer} (original {expected})");
        }
    }
}

#[test]
fn chains_and_empty_lists_are_rejected_after_the_handshake() {
    let bytes = der(RUST_4_SECP256K1);
    let cert = tls::rustls::pki_types::CertificateDer::from(bytes.as_slice());
    assert_eq!(
        tls::peer_id_from_certificates(&[]),
        Err(CertificateError::NoCertificate)
    );
    assert_eq!(
        tls::peer_id_from_certificates(&[cert.clone(), cert]),
        Err(CertificateError::ChainNotAllowed(2))
    );
}

#[test]
fn oversized_input_is_rejected_before_parsing() {
    let big = vec![0x30; tls::MAX_CERTIFICATE_LEN + 1];
    assert_eq!(
        tls::verify_certificate(&big, now()),
        Err(CertificateError::TooLarge(tls::MAX_CERTIFICATE_LEN + 1))
    );
}

/// The fuzz entry point runs on real certificates and garbage without panicking.
#[cfg(feature = "fuzzing")]
#[test]
fn fuzz_entry_point_handles_fixtures_and_garbage() {
    for fixture in [
        SPEC_1_ED25519,
        SPEC_2_ECDSA,
        SPEC_3_SECP256K1,
        SPEC_4_BAD_SIGNATURE,
    ] {
        leanp2p_identity::fuzzing::verify_certificate(&der(fixture));
    }
    for fixture in [
        RUST_1_ED25519,
        RUST_2_BAD_ED25519,
        RUST_3_ECDSA,
        RUST_4_SECP256K1,
    ] {
        leanp2p_identity::fuzzing::verify_certificate(&der(fixture));
    }
    leanp2p_identity::fuzzing::verify_certificate(&[]);
    leanp2p_identity::fuzzing::verify_certificate(&[0x30, 0x80, 0x00, 0x00]);
}
