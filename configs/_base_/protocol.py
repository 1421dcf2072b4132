# The paper's protocol: detectors train on C23 (HQ) and are tested, and remedies fitted, on C40 (LQ).
train_compression = "c23"
test_compression = "c40"
