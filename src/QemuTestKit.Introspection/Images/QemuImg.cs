using System.Diagnostics;
using System.Text.Json;
using QemuTestKit.Introspection.Processes;

namespace QemuTestKit.Introspection.Images;

/// <summary>Reads disk images through <c>qemu-img</c>'s JSON output, never by parsing its text.</summary>
public sealed class QemuImg
{
    public QemuImg(string binary = "qemu-img") => Binary = binary;

    public string Binary { get; }

    /// <summary>Describes an image: format, sizes, backing file and internal snapshots.</summary>
    /// <exception cref="QemuImageException">The image does not exist, is unreadable, or qemu-img failed.</exception>
    public async Task<ImageInfo> InfoAsync(string imagePath, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(imagePath))
        {
            throw new QemuImageException($"image '{imagePath}' does not exist");
        }

        // -U (force-share) reads an image a running QEMU holds open, which is how checkpoints are listed mid-run.
        var output = await RunAsync(["info", "--output=json", "-U", imagePath], timeout ?? TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        try
        {
            return JsonSerializer.Deserialize(output, ImageJsonContext.Default.ImageInfo)
                ?? throw new QemuImageException($"qemu-img info printed nothing for '{imagePath}'");
        }
        catch (JsonException e)
        {
            throw new QemuImageException($"qemu-img info printed JSON of an unexpected shape for '{imagePath}': {e.Message}", e);
        }
    }

    /// <summary>The internal snapshots of an image (empty when it has none): a qcow2 image's from its table (<see cref="Qcow2SnapshotTable"/>), others' from qemu-img.</summary>
    public async Task<IReadOnlyList<ImageSnapshot>> ListSnapshotsAsync(string imagePath, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        if (File.Exists(imagePath) && Qcow2Header.IsQcow2(imagePath))
        {
            return Qcow2SnapshotTable.Read(imagePath);
        }

        return (await InfoAsync(imagePath, timeout, cancellationToken).ConfigureAwait(false)).Snapshots ?? [];
    }

    /// <summary>Creates an empty qcow2 image (for example one that only stores snapshots).</summary>
    public async Task CreateAsync(string imagePath, long virtualSizeBytes, CancellationToken cancellationToken = default)
    {
        await RunAsync(["create", "-q", "-f", "qcow2", imagePath, virtualSizeBytes.ToString(System.Globalization.CultureInfo.InvariantCulture)],
            TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Creates a qcow2 overlay whose backing file is <paramref name="baseImage"/>: every write goes to the overlay,
    /// so the base is never modified.
    /// </summary>
    public async Task CreateOverlayAsync(string overlayPath, string baseImage, string? baseFormat = null, CancellationToken cancellationToken = default)
    {
        var fullBase = Path.GetFullPath(baseImage);
        if (!File.Exists(fullBase))
        {
            throw new QemuImageException($"disk image '{fullBase}' does not exist");
        }

        var format = baseFormat ?? (await InfoAsync(fullBase, cancellationToken: cancellationToken).ConfigureAwait(false)).Format;
        await RunAsync(["create", "-q", "-f", "qcow2", "-b", fullBase, "-F", format, overlayPath], TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes an internal snapshot of a qcow2 image that no process has open.</summary>
    public async Task DeleteSnapshotAsync(string imagePath, string name, CancellationToken cancellationToken = default)
    {
        await RunAsync(["snapshot", "-d", name, imagePath], TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
    }

    private async Task<string> RunAsync(IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var binary = ExecutableSearch.Find(Binary)
            ?? throw new QemuImageException($"'{Binary}' is not on PATH; install it (Debian: apt-get install qemu-utils)");
        var psi = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        using var process = Process.Start(psi) ?? throw new QemuImageException($"could not start '{binary}'");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var linked = Timeouts.Link(timeout, cancellationToken);
        try
        {
            await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            if (cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            throw new QemuImageException($"qemu-img {arguments[0]} did not finish within {timeout.TotalSeconds:0} s");
        }

        var error = (await stderr.ConfigureAwait(false)).Trim();
        if (process.ExitCode != 0)
        {
            throw new QemuImageException($"qemu-img {arguments[0]} failed (exit code {process.ExitCode}): {error}");
        }

        return await stdout.ConfigureAwait(false);
    }
}

/// <summary>qemu-img failed or an image is not usable.</summary>
public sealed class QemuImageException : QemuTestKitException
{
    public QemuImageException(string message, Exception? inner = null) : base(message, inner) { }
}
