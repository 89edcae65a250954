using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// A machine booted once to its ready condition and saved as the snapshot <c>ready</c>: a state image (plus disk
/// overlays) and a manifest naming the spec and the QEMU binary it was made with. Instances start from private copies.
/// </summary>
/// <param name="Directory">Where the state lives.</param>
/// <param name="SpecHash">sha256 of the spec's JSON: a different spec means prepare again.</param>
/// <param name="Binary">The QEMU binary's identity when the state was saved: a different binary cannot load it.</param>
public sealed record ReadyState(
    string Directory,
    string MachineName,
    string SpecHash,
    BinaryIdentity Binary,
    string QemuVersion,
    string StateImage,
    IReadOnlyList<string> DiskOverlays,
    double BootSeconds,
    DateTimeOffset CreatedAt,
    int? IcountShift = null)
{
    public const string SnapshotName = "ready";
    public const string ManifestFile = "ready.json";

    /// <summary>The spec hash the runtime compares; stable for equal specs.</summary>
    public static string HashOf(MachineSpec spec) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(MachineSpecJson.Serialize(spec)))).ToLowerInvariant();

    /// <summary>
    /// Boots <paramref name="spec"/> cold, waits for its ready pattern, saves the <c>ready</c> snapshot and stores the
    /// state under <paramref name="stateDirectory"/>, replacing any earlier one atomically.
    /// </summary>
    public static async Task<ReadyState> PrepareAsync(MachineSpec spec, string stateDirectory, MachineStartOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Ready.Pattern is null)
        {
            throw new MachineStartException($"machine '{spec.Name}' cannot be prepared: it declares no ready pattern");
        }

        options ??= new MachineStartOptions();
        var catalog = options.Catalog ?? await new CatalogCache().GetAsync(spec.QemuBinary, cancellationToken).ConfigureAwait(false);
        var stopwatch = Stopwatch.StartNew();
        var machine = await QemuMachine.StartAsync(spec, options with { Catalog = catalog, KeepRunDirectory = true, StateImageSource = null, LoadSnapshot = null },
            cancellationToken).ConfigureAwait(false);
        await using (machine.ConfigureAwait(false))
        {
            await machine.WaitUntilReadyAsync(cancellationToken).ConfigureAwait(false);
            var bootSeconds = stopwatch.Elapsed.TotalSeconds;
            await machine.SaveSnapshotAsync(SnapshotName, cancellationToken).ConfigureAwait(false);
            await machine.ShutdownAsync().ConfigureAwait(false);
            return await StoreAsync(spec, catalog, machine, stateDirectory, bootSeconds, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<ReadyState> StoreAsync(MachineSpec spec, QemuCatalog catalog, QemuMachine machine, string stateDirectory,
        double bootSeconds, CancellationToken cancellationToken)
    {
        var target = Path.GetFullPath(stateDirectory);
        var parent = Path.GetDirectoryName(target)!;
        System.IO.Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        System.IO.Directory.CreateDirectory(staging);
        try
        {
            File.Move(machine.Files.StateImage, Path.Combine(staging, "state.qcow2"));
            var overlays = new List<string>();
            for (var i = 0; i < machine.Files.DiskImages.Count; i++)
            {
                if (spec.Disks[i].ReadOnly)
                {
                    continue;
                }

                var name = Path.GetFileName(machine.Files.DiskImages[i]);
                File.Move(machine.Files.DiskImages[i], Path.Combine(staging, name));
                overlays.Add(name);
            }

            var state = new ReadyState(target, spec.Name, HashOf(spec), catalog.BinaryIdentity, catalog.QemuVersion,
                Path.Combine(target, "state.qcow2"), overlays.Select(o => Path.Combine(target, o)).ToArray(), Math.Round(bootSeconds, 2), DateTimeOffset.UtcNow,
                machine.IcountShift);
            await File.WriteAllTextAsync(Path.Combine(staging, ManifestFile), JsonSerializer.Serialize(state, ReadyStateJsonContext.Default.ReadyState),
                cancellationToken).ConfigureAwait(false);
            if (System.IO.Directory.Exists(target))
            {
                System.IO.Directory.Delete(target, recursive: true);
            }

            System.IO.Directory.Move(staging, target);
            return state;
        }
        catch
        {
            System.IO.Directory.Delete(staging, recursive: true);
            throw;
        }
        finally
        {
            TryDelete(machine.RunDirectoryPath);
        }
    }

    /// <summary>Reads a prepared state, or null when there is none.</summary>
    public static ReadyState? Load(string stateDirectory)
    {
        var manifest = Path.Combine(stateDirectory, ManifestFile);
        if (!File.Exists(manifest))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(manifest), ReadyStateJsonContext.Default.ReadyState);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Why this state cannot start <paramref name="spec"/> on <paramref name="catalog"/>'s binary, or null when it can.</summary>
    public string? MismatchWith(MachineSpec spec, QemuCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(catalog);
        if (SpecHash != HashOf(spec))
        {
            return $"the ready state of machine '{spec.Name}' was prepared from a different spec";
        }

        if (Binary != catalog.BinaryIdentity || QemuVersion != catalog.QemuVersion)
        {
            return $"the ready state of machine '{spec.Name}' was prepared with QEMU {QemuVersion} at {Binary.Path}, not the current {catalog.QemuVersion} at {catalog.Binary}";
        }

        return File.Exists(StateImage) ? null : $"the ready state image {StateImage} is missing";
    }

    /// <summary>Starts a new instance from a private copy of this state, at the <c>ready</c> snapshot.</summary>
    /// <exception cref="ReadyStateMismatchException">The state was made from another spec or QEMU binary: prepare again.</exception>
    public async Task<QemuMachine> StartAsync(MachineSpec spec, MachineStartOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new MachineStartOptions();
        var catalog = options.Catalog ?? await new CatalogCache().GetAsync(spec.QemuBinary, cancellationToken).ConfigureAwait(false);
        if (MismatchWith(spec, catalog) is { } mismatch)
        {
            throw new ReadyStateMismatchException($"{mismatch}; prepare it again");
        }

        if (options.Mode != RunMode.Normal && IcountShift is null)
        {
            throw new ReadyStateMismatchException(
                $"the ready state of machine '{spec.Name}' was prepared without icount, and a recorded run cannot start from it; prepare it again with MachineStartOptions.IcountShift set (for example 5)");
        }

        return await QemuMachine.StartAsync(spec, options with
        {
            Catalog = catalog,
            StateImageSource = StateImage,
            DiskOverlaySources = DiskOverlays,
            LoadSnapshot = SnapshotName,
            IcountShift = IcountShift,
        }, cancellationToken).ConfigureAwait(false);
    }

    private static void TryDelete(string directory)
    {
        try
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>A ready state does not belong to this spec or QEMU binary.</summary>
public sealed class ReadyStateMismatchException : QemuTestKit.Introspection.QemuTestKitException
{
    public ReadyStateMismatchException(string message) : base(message) { }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(ReadyState))]
internal sealed partial class ReadyStateJsonContext : JsonSerializerContext;
