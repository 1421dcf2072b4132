# smoke: the whole pipeline in well under a minute (the tests' profile).
_base_ = ["_base_/protocol.py"]

dataset = dict(type="synthetic", n_identities=24, n_frames=6, scene_size=96)
faces = dict(size=48, frames_per_video=3, skip_first=True)
train = dict(epochs=1, batch_size=16, lr=1e-3, amp=False, channels_last=False)
method = dict(epochs=1, batch_size=16)
detector_per_manipulation = False
method_per_manipulation = False
