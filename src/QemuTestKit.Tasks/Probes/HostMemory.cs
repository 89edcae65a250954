using System.Globalization;

namespace QemuTestKit.Tasks.Probes;

/// <summary>The host's physical memory, for rejecting guests that cannot fit (QTK1005).</summary>
internal static class HostMemory
{
    /// <summary>MemTotal from /proc/meminfo in MiB, or null when it cannot be read (not Linux, no /proc).</summary>
    public static long? TotalMiB()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                // "MemTotal:       24579788 kB"
                if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
                {
                    var parts = line["MemTotal:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return parts.Length > 0 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kib) ? kib / 1024 : null;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return null;
    }
}
