using System.Text;

namespace QemuTestKit.Machines.Console;

/// <summary>
/// Linux's limit on a Unix socket's path (<c>sun_path</c> holds 108 bytes with the terminating NUL): consoles bind such
/// paths, and run directories are placed so that theirs fit.
/// </summary>
public static class UnixSocketPath
{
    public const int MaxBytes = 107;

    public static bool Fits(string path) => Encoding.UTF8.GetByteCount(path) <= MaxBytes;

    /// <summary>Why <paramref name="path"/> cannot be bound, and what to do about it.</summary>
    public static string TooLong(string path, string remedy) =>
        $"the Unix socket path {path} is {Encoding.UTF8.GetByteCount(path)} bytes long; Linux allows at most {MaxBytes}. {remedy}";
}
