using QemuTestKit.Introspection.Interop;

namespace QemuTestKit.Introspection.Catalog;

/// <summary>Reads what identifies a binary's file: size, mtime, ctime, inode and device.</summary>
public static class BinaryIdentityReader
{
    public static BinaryIdentity Read(string path)
    {
        var info = new FileInfo(path);
        var status = FileStatus.Read(path);
        return new BinaryIdentity(
            info.FullName,
            info.Length,
            info.LastWriteTimeUtc.Ticks,
            status?.ChangedTicks ?? info.LastWriteTimeUtc.Ticks,
            status?.Inode ?? 0,
            status?.Device ?? 0);
    }
}
