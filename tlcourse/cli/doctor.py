"""``tlcourse doctor`` and ``tlcourse predict``: what works here, and the offline backbone."""

from __future__ import annotations

__all__ = ["add_parser"]


def _run_doctor(args) -> int:
    from tlcourse.doctor import doctor_report, format_report

    print(format_report(doctor_report()))
    return 0


def _run_predict(args) -> int:
    from tlcourse.models.imagenet import predict_image_files

    answers = predict_image_files(args.images, top=args.top)
    for path, predictions in zip(args.images, answers, strict=True):
        print(path)
        for _, name, prob in predictions:
            print(f"  {prob:6.1%}  {name}")
    return 0


def add_parser(sub) -> None:
    """Add the ``doctor`` and ``predict`` subcommands."""
    doctor = sub.add_parser("doctor", help="versions, devices, caches, offline backbones, data")
    doctor.set_defaults(func=_run_doctor)

    help_text = "top-5 ImageNet classes of images (efficientnet_lite0, offline)"
    predict = sub.add_parser("predict", help=help_text)
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument("--top", type=int, default=5, help="classes to show (default 5)")
    predict.set_defaults(func=_run_predict)
