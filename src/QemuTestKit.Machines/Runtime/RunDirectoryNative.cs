using System.Runtime.InteropServices;

namespace QemuTestKit.Machines.Runtime;

/// <summary>The two facts about users .NET does not expose: this process's uid and a directory's owner.</summary>
internal static class RunDirectoryNative
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxUid = 0x8;

    public static uint EffectiveUserId()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        try
        {
            return NativeMethods.geteuid();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return 0;
        }
    }

    /// <summary>The uid owning <paramref name="path"/> (not following a final symbolic link), or null when unknown.</summary>
    public static uint? OwnerOf(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        // struct statx has the same layout on every Linux architecture; stx_uid is at offset 20.
        var buffer = new byte[256];
        try
        {
            var name = System.Text.Encoding.UTF8.GetBytes(path + "\0");
            return NativeMethods.statx(AtFdCwd, name, AtSymlinkNoFollow, StatxUid, buffer) == 0 ? BitConverter.ToUInt32(buffer, 20) : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern uint geteuid();

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int statx(int dirfd, byte[] path, int flags, uint mask, [Out] byte[] buffer);
    }
}
