using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;

namespace QemuTestKit.Machines.Tests.Support;

/// <summary>What a file holds and what it occupies on disk, for tests of sparse copies.</summary>
internal static class SparseFiles
{
    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream));
    }

    /// <summary>Bytes the file system allocated for the file (holes are not allocated).</summary>
    public static long AllocatedBytes(string path)
    {
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%b %B", path]) { RedirectStandardOutput = true })!;
        var fields = stat.StandardOutput.ReadToEnd().Trim().Split(' ');
        stat.WaitForExit();
        return long.Parse(fields[0], CultureInfo.InvariantCulture) * long.Parse(fields[1], CultureInfo.InvariantCulture);
    }
}
