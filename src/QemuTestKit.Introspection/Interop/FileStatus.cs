using System.Runtime.InteropServices;

namespace QemuTestKit.Introspection.Interop;

/// <summary>
/// The change time (ctime) of a file, which .NET does not expose. libvirt keys its QEMU capability cache on ctime
/// because a package manager can replace a binary while keeping its mtime; so do we. Uses statx(2), whose
/// structure layout is the same on every Linux architecture.
/// </summary>
internal static partial class FileStatus
{
    private const int AtFdCwd = -100;
    private const uint StatxBasicStats = 0x7ff;

    public static (long ChangedTicks, ulong Inode, ulong Device)? Read(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        var buffer = new byte[256];
        try
        {
            if (Statx(AtFdCwd, path, 0, StatxBasicStats, buffer) != 0)
            {
                return null;
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }

        // struct statx: stx_ino at 32, stx_ctime at 96 (tv_sec i64, tv_nsec u32), stx_dev_major/minor at 136/140.
        var inode = BitConverter.ToUInt64(buffer, 32);
        var seconds = BitConverter.ToInt64(buffer, 96);
        var nanoseconds = BitConverter.ToUInt32(buffer, 104);
        var device = ((ulong)BitConverter.ToUInt32(buffer, 136) << 32) | BitConverter.ToUInt32(buffer, 140);
        // .NET ticks (since 0001-01-01), like FileInfo's times, so the identity's two timestamps share one unit.
        var ticks = DateTime.UnixEpoch.Ticks + (seconds * TimeSpan.TicksPerSecond) + (nanoseconds / 100);
        return (ticks, inode, device);
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, [Out] byte[] buffer);
}
