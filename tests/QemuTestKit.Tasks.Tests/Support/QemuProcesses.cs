using System.Globalization;

namespace QemuTestKit.Tasks.Tests.Support;

/// <summary>Finds QEMU processes that belong to a directory tree, by reading /proc.</summary>
public static class QemuProcesses
{
    /// <summary>
    /// Every running QEMU (and setpriv wrapper about to become one) whose command line or working directory mentions
    /// <paramref name="root"/>: the builds of one test run put their projects, kernels and run directories there.
    /// </summary>
    public static IReadOnlyList<string> Under(string root)
    {
        var found = new List<string>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(directory);
            if (!int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                var commandLine = File.ReadAllText(Path.Combine(directory, "cmdline")).Replace('\0', ' ').Trim();
                if (!commandLine.Contains("qemu-system", StringComparison.Ordinal))
                {
                    continue;
                }

                var cwd = new DirectoryInfo(Path.Combine(directory, "cwd")).LinkTarget ?? string.Empty;
                if (commandLine.Contains(root, StringComparison.Ordinal) || cwd.StartsWith(root, StringComparison.Ordinal))
                {
                    found.Add($"{pid}: {commandLine} (cwd {cwd})");
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended while we looked.
            }
        }

        return found;
    }

    /// <summary>Waits up to <paramref name="grace"/> for them to go (a process killed a moment ago may still be reaped).</summary>
    public static async Task<IReadOnlyList<string>> LeftUnderAsync(string root, TimeSpan grace)
    {
        var deadline = DateTime.UtcNow + grace;
        while (true)
        {
            var left = Under(root);
            if (left.Count == 0 || DateTime.UtcNow > deadline)
            {
                return left;
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Kills what a failed test left behind, so that one failure does not leak QEMUs into the rest of the run.</summary>
    public static void KillUnder(string root)
    {
        foreach (var entry in Under(root))
        {
            var pid = int.Parse(entry[..entry.IndexOf(':', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
            try
            {
                using var process = System.Diagnostics.Process.GetProcessById(pid);
                process.Kill();
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
            }
        }
    }
}
