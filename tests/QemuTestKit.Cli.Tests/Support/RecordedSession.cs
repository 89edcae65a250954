using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Cli.Tests.Support;

/// <summary>
/// The recorded session the replay tests replay: two lines with values from /dev/urandom (so a replay that re-ran
/// instead of replaying would differ) and checkpoint <see cref="Checkpoint"/> between them.
/// </summary>
internal static class RecordedSession
{
    public const string Checkpoint = "after-one";

    /// <summary>Runs the session on a recorded machine and keeps it as a bundle at <paramref name="bundle"/>; returns the bundle's path.</summary>
    public static async Task<string> RecordAsync(QemuMachine machine, string bundle, string testName, CancellationToken ct)
    {
        await machine.ExecAsync("echo first-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \\n')", TimeSpan.FromSeconds(120), ct);
        await machine.CheckpointAsync(Checkpoint, ct);
        await machine.ExecAsync("echo second-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \\n')", TimeSpan.FromSeconds(120), ct);
        return await machine.KeepAsBundleAsync(bundle, new BundleTest(testName), ct);
    }
}
