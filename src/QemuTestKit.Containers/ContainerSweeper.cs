using System.Diagnostics;
using System.Globalization;
using Docker.DotNet.Models;

namespace QemuTestKit.Containers;

/// <summary>
/// Our own replacement for Ryuk: every container this library starts carries <see cref="ManagedLabel"/> and an
/// <see cref="OwnerLabel"/> naming this host, process id and process start time. The first machine a process starts
/// on an engine removes the containers whose owner on this host is gone (a test host killed by SIGKILL cannot clean up
/// after itself; the next start does).
/// </summary>
/// <remarks>
/// "This host" is the machine name and the PID namespace: a process id means something only in its own namespace.
/// CI jobs that run in containers sharing one engine (the host's socket mounted in) often share the machine name too
/// (<c>--network host</c> gives a container the host's), and one job's sweep would otherwise take the other's live
/// processes for dead ones and remove their machines mid-test.
/// </remarks>
public static class ContainerSweeper
{
    public const string ManagedLabel = "org.qemutestkit.managed";
    public const string OwnerLabel = "org.qemutestkit.owner";

    private static readonly HashSet<string> s_swept = new(StringComparer.Ordinal);

    /// <summary>The machine name and the PID namespace of this process: <c>name@pidns</c>.</summary>
    public static string ThisHost { get; } = $"{Environment.MachineName}@{PidNamespace()}";

    /// <summary>host/pid/start-time-in-s of this process.</summary>
    public static string ThisOwner { get; } = OwnerOf(Environment.ProcessId) ?? $"{ThisHost}/{Environment.ProcessId}/0";

    /// <summary>Sweeps <paramref name="endpoint"/> once per process.</summary>
    internal static async Task SweepOnceAsync(Uri endpoint, CancellationToken cancellationToken)
    {
        lock (s_swept)
        {
            if (!s_swept.Add(endpoint.ToString()))
            {
                return;
            }
        }

        await SweepAsync(endpoint, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes (by force) every container of ours on the engine whose owner process on this host is gone.</summary>
    /// <returns>The ids of the containers removed.</returns>
    public static async Task<IReadOnlyList<string>> SweepAsync(Uri? endpoint = null, CancellationToken cancellationToken = default)
    {
        endpoint = DockerEngine.Resolve(endpoint);
        using var client = DockerEngine.CreateClient(endpoint);
        var ours = await client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{ManagedLabel}=true"] = true } },
        }, cancellationToken).ConfigureAwait(false);
        var removed = new List<string>();
        foreach (var container in ours)
        {
            if (!container.Labels.TryGetValue(OwnerLabel, out var owner) || !IsOrphan(owner))
            {
                continue;
            }

            try
            {
                await client.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true }, cancellationToken).ConfigureAwait(false);
                removed.Add(container.ID);
            }
            catch (Docker.DotNet.DockerContainerNotFoundException)
            {
                // Another process swept it first.
            }
        }

        return removed;
    }

    /// <summary>An owner on this host whose process no longer runs (or whose pid now belongs to a younger process).</summary>
    internal static bool IsOrphan(string owner)
    {
        var parts = owner.Split('/');
        if (parts.Length != 3 || parts[0] != ThisHost
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
        {
            return false; // another host's (or PID namespace's) container: its own sweep removes it
        }

        return OwnerOf(pid) != owner;
    }

    /// <summary>The inode of this process's PID namespace (<c>/proc/self/ns/pid</c> links to <c>pid:[4026531836]</c>).</summary>
    private static string PidNamespace()
    {
        try
        {
            var target = new FileInfo("/proc/self/ns/pid").LinkTarget ?? string.Empty;
            var digits = new string(target.Where(char.IsAsciiDigit).ToArray());
            return digits.Length > 0 ? digits : "0";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "0";
        }
    }

    private static string? OwnerOf(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            var started = new DateTimeOffset(process.StartTime.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000;
            return string.Create(CultureInfo.InvariantCulture, $"{ThisHost}/{pid}/{started}");
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
