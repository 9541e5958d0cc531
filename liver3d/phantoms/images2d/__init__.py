"""Labelled 2D image phantoms for the three 2D studies (chest X-ray, liver CT slices, multi-organ MRI).

Class-dependent anatomy and lesions, several images per patient, lesion masks for CAM localization:

    >>> from liver3d.phantoms.images2d import write_study_images
    >>> write_study_images("xray_pneumonia", "demo_out/images2d/xray_pneumonia")  # doctest: +SKIP

or ``python -m liver3d.phantoms.images2d --study xray_pneumonia --out DIR``.
"""

from liver3d.phantoms.images2d.studies import STUDIES, Study, get_study, render_image, write_study_images

__all__ = ["STUDIES", "Study", "get_study", "render_image", "write_study_images"]
