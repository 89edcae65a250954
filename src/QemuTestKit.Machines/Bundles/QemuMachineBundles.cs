using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Bundles;

/// <summary>Keeping a recorded <see cref="QemuMachine"/> as a replay bundle; here rather than on the machine, since the runtime knows no bundle format.</summary>
public static class QemuMachineBundles
{
    /// <summary>
    /// Ends a recorded run and keeps it as a replay bundle: shuts QEMU down (so the replay log is complete) and writes
    /// <c>&lt;directory&gt;.qtkreplay</c> atomically. Returns the bundle's directory.
    /// </summary>
    public static async Task<string> KeepAsBundleAsync(this QemuMachine machine, string bundleDirectory, BundleTest? test = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(machine);
        if (!machine.IsRecording)
        {
            throw new InvalidOperationException($"machine '{machine.Spec.Name}' is not recorded: only a recorded run can be kept as a replay bundle");
        }

        await machine.StopRecordingHelpersAsync().ConfigureAwait(false);
        // QEMU writes the PNG where it runs: elsewhere (a container) it would not be in this run directory.
        var screenshot = machine.Host.SharesFileSystem ? await RecordingBundler.TryScreenshotAsync(machine, machine.Run, cancellationToken).ConfigureAwait(false) : null;
        await machine.ShutdownAsync().ConfigureAwait(false);
        // QEMU wrote its log and images where it ran: bring them here first.
        await machine.Host.CollectRunFilesAsync(machine.Files, machine.Run.StderrLog, cancellationToken).ConfigureAwait(false);

        return await RecordingBundler.WriteAsync(machine, machine.Run, bundleDirectory, test, screenshot, cancellationToken).ConfigureAwait(false);
    }
}
