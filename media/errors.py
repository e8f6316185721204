"""Why an upload or a media link was refused: a stable code for clients, words for applicants."""

from __future__ import annotations

# One message per code so every caller words a refusal the same way; {placeholders} come
# from the exception's details.
MESSAGES: dict[str, str] = {
    "UPLOAD_EMPTY": "文件为空，请重新选择文件上传",
    "UPLOAD_TOO_LARGE": "文件超过 {limit_mb} MB，请压缩或重新拍摄后上传",
    "UPLOAD_TYPE_NOT_ALLOWED": "仅支持 JPEG、PNG、HEIC 格式的照片或 PDF 文件",
    "UPLOAD_PHOTO_ONLY": "此处只能上传照片（JPEG、PNG、HEIC），不能上传 PDF",
    "UPLOAD_CORRUPT": "文件已损坏或不完整，请重新拍摄上传",
    "UPLOAD_TOO_MANY_PIXELS": "图片分辨率过高，请调低相机分辨率或截图后重新上传",
    "UPLOAD_IMAGE_MODE_UNSUPPORTED": "图片颜色格式（{mode}）无法识别，请截图后重新上传",
    "UPLOAD_IMAGE_BLANK": "图片转换后为空白（内容可能被透明层遮住），请截图后重新上传",
    "UPLOAD_PDF_ACTIVE_CONTENT": "PDF 含有脚本、附件或自动动作，请另存为普通 PDF 后上传",
    "UPLOAD_PDF_ENCRYPTED": "PDF 已加密，请取消密码保护后上传",
    "UPLOAD_PDF_TOO_MANY_PAGES": "PDF 超过 {limit} 页，请拆分后上传",
    "MEDIA_NOT_FOUND": "文件不存在或已被删除",
    "MEDIA_LINK_INVALID": "文件链接无效",
    "MEDIA_LINK_EXPIRED": "文件链接已过期，请刷新页面后重试",
}


class MediaRejected(Exception):
    """Refused input; the web layer maps `code` to an HTTP status and shows `message`."""

    def __init__(self, code: str, **details: object) -> None:
        self.code = code
        self.message = MESSAGES[code].format(**details)
        self.details = details
        super().__init__(f"{code}: {self.message}")

    def __reduce__(self):
        """Whole across processes (media.pool): pickling an exception keeps only its args."""
        return _restore, (type(self), self.code, self.details)


def _restore(cls: type[MediaRejected], code: str, details: dict) -> MediaRejected:
    error = Exception.__new__(cls)
    MediaRejected.__init__(error, code, **details)
    return error


class MediaNotFound(MediaRejected):
    """No stored file under that digest; a storage backend raises this, not its own error."""

    def __init__(self, **details: object) -> None:
        super().__init__("MEDIA_NOT_FOUND", **details)


class SignatureInvalid(MediaRejected):
    """A media link token that was not issued by us or was altered."""

    def __init__(self, code: str = "MEDIA_LINK_INVALID", **details: object) -> None:
        super().__init__(code, **details)


class SignatureExpired(SignatureInvalid):
    """A genuine token past its expiry; a subclass so `except SignatureInvalid` refuses it too."""

    def __init__(self, **details: object) -> None:
        super().__init__("MEDIA_LINK_EXPIRED", **details)
