//! Property tests: the certificate verifier never panics on arbitrary or mutated input,
//! and a mutated certificate never proves a different PeerId.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use leanp2p_identity::tls;
use leanp2p_identity::Keypair;
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// 2026-11-21T00:00:00Z.
const NOW_UNIX: i64 = 1_795_219_200;

fn valid_certificate() -> (Vec<u8>, leanp2p_identity::PeerId) {
    let keypair = Keypair::from_secret_bytes(&[1; 32]).unwrap();
    let (cert, _) =
        tls::generate_certificate(&keypair, &mut ChaCha20Rng::seed_from_u64(1)).unwrap();
    (cert.as_ref().to_vec(), keypair.peer_id())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = tls::verify_certificate_at_unix(&data, NOW_UNIX);
    }

    #[test]
    fn mutated_certificates_never_prove_another_peer(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let (mut cert, peer) = valid_certificate();
        for (at, value) in edits {
            let i = at.index(cert.len());
            cert[i] = value;
        }
        if truncate {
            cert.truncate(cut.index(cert.len()));
        }
        if let Ok(proved) = tls::verify_certificate_at_unix(&cert, NOW_UNIX) {
            prop_assert_eq!(proved, peer);
        }
    }
}
