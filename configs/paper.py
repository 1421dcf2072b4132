# paper: the paper's protocol on FaceForensics++ (a GPU): each detector at its native input
# size, one detector and one remedy fit per manipulation, ImageNet-initialised backbones
# (MesoInception4 has none and trains from scratch). Offline, point at local weights:
# --cfg-options detector.per_detector.xception.weights=PATH.
_base_ = ["_base_/protocol.py"]

dataset = dict(type="ffpp", root="data/FaceForensics++")
detector = dict(per_detector=dict(
    xception=dict(pretrained=True),
    resnet50=dict(pretrained=True),
    efficientnet_b4=dict(pretrained=True),
    f3net=dict(pretrained=True),
))
faces = dict(size=None, frames_per_video=300, skip_first=False)
train = dict(epochs=10, batch_size=32, lr=2e-4, amp=True, channels_last=True)
method = dict(epochs=20, batch_size=14)
detector_per_manipulation = True
method_per_manipulation = True
