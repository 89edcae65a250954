using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using QemuTestKit.Introspection.Processes;
using QemuTestKit.Introspection.Qmp;

namespace QemuTestKit.Introspection.Catalog;

/// <summary>Limits for an introspection run.</summary>
public sealed record IntrospectionOptions
{
    /// <summary>The whole walk, restarts included, must finish within this time.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>How many times the emulator may die during one walk before the walk gives up.</summary>
    public int MaxRestarts { get; init; } = 16;
}

/// <summary>
/// Builds a <see cref="QemuCatalog"/> by asking the binary itself: started as <c>-machine none -nodefaults -S</c>
/// with QMP, it answers for its target, machines, CPUs, QOM types, device properties and QMP schema.
/// </summary>
public sealed class QemuIntrospector
{
    private static readonly string[] ProbeMachineArguments = ["-machine", "none"];
    private readonly IntrospectionOptions _options;

    public QemuIntrospector(IntrospectionOptions? options = null) => _options = options ?? new IntrospectionOptions();

    /// <summary>The arguments that make an emulator a probe: no machine, so no board is built.</summary>
    public static IReadOnlyList<string> ProbeMachine => ProbeMachineArguments;

    /// <summary>Walks the binary and returns its catalog. Starts QEMU; never consults a cache (see <see cref="CatalogCache"/>).</summary>
    /// <exception cref="QemuBinaryNotFoundException">No such binary.</exception>
    /// <exception cref="QemuProbeException">It is not a QEMU, or it did not answer in time.</exception>
    public Task<QemuCatalog> IntrospectAsync(string binaryNameOrPath, CancellationToken cancellationToken = default)
    {
        var binary = QemuBinary.Resolve(binaryNameOrPath);
        return IntrospectAsync(binary.Path, BinaryIdentityReader.Read(binary.Path), $"'{binary.Path}'",
            async ct => await StartLocalAsync(binary, ct).ConfigureAwait(false), cancellationToken);
    }

    /// <summary>
    /// Walks an emulator that runs elsewhere (in a container image) and returns its catalog: <paramref name="start"/>
    /// starts a probe of it (<see cref="QemuProbeSession.ProbeArguments"/> and <see cref="ProbeMachine"/>), again after
    /// a device type kills it.
    /// </summary>
    /// <param name="binary">The binary's path where it runs, as the catalog names it.</param>
    /// <param name="identity">What identifies that build (a cached catalog is valid while it is the same).</param>
    /// <param name="description">The emulator in error messages (<c>'/usr/bin/qemu-system-x86_64' in image X</c>).</param>
    /// <exception cref="QemuProbeException">It is not a QEMU, or it did not answer in time.</exception>
    public async Task<QemuCatalog> IntrospectAsync(string binary, BinaryIdentity identity, string description,
        Func<CancellationToken, Task<IQemuProbeSession>> start, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(start);
        var stopwatch = Stopwatch.StartNew();
        using var deadline = Timeouts.Link(_options.Timeout, cancellationToken);
        try
        {
            var catalog = await WalkAsync(binary, identity, description, start, deadline.Token).ConfigureAwait(false);
            return catalog with { ProbeSeconds = Math.Round(stopwatch.Elapsed.TotalSeconds, 3), CreatedAt = DateTimeOffset.UtcNow };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new QemuProbeException($"introspecting {description} did not finish within {_options.Timeout.TotalSeconds:0} s");
        }
        catch (QmpTimeoutException e)
        {
            throw new QemuProbeException($"introspecting {description} stalled: {e.Message}", e);
        }
        catch (QmpException e) when (e is not QmpErrorException)
        {
            throw new QemuProbeException($"introspecting {description} failed: {e.Message}", e);
        }
    }

    private async Task<QemuCatalog> WalkAsync(string binary, BinaryIdentity identity, string description,
        Func<CancellationToken, Task<IQemuProbeSession>> start, CancellationToken ct)
    {
        IQemuProbeSession? session = await start(ct).ConfigureAwait(false);
        try
        {
            var qmp = session.Qmp;
            var version = await qmp.ExecuteAsync("query-version", null, QmpWireContext.Default.QmpVersionReply, cancellationToken: ct).ConfigureAwait(false);
            var target = await qmp.ExecuteAsync("query-target", null, QmpWireContext.Default.QmpTargetReply, cancellationToken: ct).ConfigureAwait(false);
            var machines = await qmp.ExecuteAsync("query-machines", null, QmpWireContext.Default.ListQmpMachineInfo, cancellationToken: ct).ConfigureAwait(false);
            var cpus = await QueryCpusAsync(qmp, ct).ConfigureAwait(false);
            var allTypes = await ListTypesAsync(qmp, new JsonObject { ["abstract"] = true }, ct).ConfigureAwait(false);
            var devices = await ListTypesAsync(qmp, new JsonObject { ["implements"] = "device", ["abstract"] = false }, ct).ConfigureAwait(false);
            var accelerators = await ListTypesAsync(qmp, new JsonObject { ["implements"] = "accel", ["abstract"] = false }, ct).ConfigureAwait(false);
            var (schemaHash, commands) = await ReadSchemaAsync(qmp, ct).ConfigureAwait(false);

            var (deviceTypes, unavailable) = await DescribeDevicesAsync(description, start, session, devices, ct).ConfigureAwait(false);
            session = null;

            var qomTypes = allTypes
                .Select(t => new QomType(t.Name, t.Parent, t.Abstract ?? false))
                .OrderBy(t => t.Name, StringComparer.Ordinal)
                .ToArray();
            return new QemuCatalog
            {
                QemuVersion = $"{version.Qemu.Major}.{version.Qemu.Minor}.{version.Qemu.Micro}",
                QemuPackage = version.Package?.Trim() ?? string.Empty,
                Binary = binary,
                BinaryIdentity = identity,
                Target = target.Arch,
                Machines = machines
                    .Select(m => new MachineType(m.Name, m.Alias, m.IsDefault ?? false, m.Description, m.CpuMax, m.HotpluggableCpus,
                        m.Deprecated ?? false, m.DefaultCpuType, m.DefaultRamId))
                    .OrderBy(m => m.Name, StringComparer.Ordinal)
                    .ToArray(),
                Cpus = cpus ?? QomCpuModels.From(qomTypes),
                CpusFrom = cpus is null ? CpuModelSources.QomTypes : CpuModelSources.CpuDefinitions,
                Accelerators = accelerators
                    .Where(t => t.Name != "accel")
                    .Select(t => t.Name.EndsWith("-accel", StringComparison.Ordinal) ? t.Name[..^"-accel".Length] : t.Name)
                    .Order(StringComparer.Ordinal)
                    .ToArray(),
                QomTypes = qomTypes,
                DeviceTypes = deviceTypes,
                UnavailableTypes = unavailable,
                QmpSchemaHash = schemaHash,
                QmpCommands = commands,
                RequiredCommands = QemuCatalog.RequiredCommandNames.ToDictionary(c => c, c => commands.Contains(c), StringComparer.Ordinal),
            };
        }
        finally
        {
            if (session is not null)
            {
                await session.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Asks every device type for its properties, one at a time, because a single type can abort the emulator
    /// (Debian's QEMU 7.2 dies on virtio-gpu-gl-pci and virtio-vga-gl). When it dies, the type it was asked about
    /// is recorded as unavailable with the stderr tail, a fresh emulator is started, and the walk goes on.
    /// Disposes <paramref name="session"/> (or its replacements) before returning.
    /// </summary>
    private async Task<(DeviceType[] Devices, UnavailableType[] Unavailable)> DescribeDevicesAsync(
        string description, Func<CancellationToken, Task<IQemuProbeSession>> start, IQemuProbeSession session, List<QmpObjectTypeInfo> devices, CancellationToken ct)
    {
        var described = new List<DeviceType>(devices.Count);
        var unavailable = new List<UnavailableType>();
        var restarts = 0;
        try
        {
            foreach (var device in devices.OrderBy(d => d.Name, StringComparer.Ordinal))
            {
                try
                {
                    var properties = await session.Qmp.ExecuteAsync("device-list-properties", new JsonObject { ["typename"] = device.Name },
                        QmpWireContext.Default.ListQmpObjectPropertyInfo, cancellationToken: ct).ConfigureAwait(false);
                    described.Add(new DeviceType(device.Name, device.Parent, properties
                        .Select(p => new DeviceProperty(p.Name, p.Type, p.Description, p.DefaultValue))
                        .OrderBy(p => p.Name, StringComparer.Ordinal)
                        .ToArray()));
                }
                catch (QmpErrorException e)
                {
                    unavailable.Add(new UnavailableType(device.Name, $"{e.ErrorClass}: {e.Description}"));
                }
                catch (QmpDisconnectedException e)
                {
                    var reason = string.IsNullOrWhiteSpace(e.StderrTail)
                        ? $"the emulator exited (code {e.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"}) when asked for this type's properties"
                        : $"the emulator died when asked for this type's properties: {QemuProcess.TailLines(e.StderrTail, 3)}";
                    unavailable.Add(new UnavailableType(device.Name, reason));
                    if (++restarts > _options.MaxRestarts)
                    {
                        throw new QemuProbeException($"{description} died {restarts} times while listing device properties; last: {reason}", e);
                    }

                    await session.DisposeAsync().ConfigureAwait(false);
                    session = await start(ct).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            await session.DisposeAsync().ConfigureAwait(false);
        }

        return (described.ToArray(), unavailable.ToArray());
    }

    private static Task<QemuProbeSession> StartLocalAsync(QemuBinary binary, CancellationToken ct)
        => QemuProbeSession.StartAsync(binary.Path, ProbeMachineArguments, TimeSpan.FromSeconds(30), ct);

    /// <summary>The CPU models from <c>query-cpu-definitions</c>, or null when the target has no such command.</summary>
    private static async Task<CpuModel[]?> QueryCpusAsync(QmpClient qmp, CancellationToken ct)
    {
        try
        {
            var cpus = await qmp.ExecuteAsync("query-cpu-definitions", null, QmpWireContext.Default.ListQmpCpuDefinition, cancellationToken: ct).ConfigureAwait(false);
            return cpus
                .Select(c => new CpuModel(c.Name, c.Typename, c.Static ?? false, c.Deprecated ?? false))
                .OrderBy(c => c.Name, StringComparer.Ordinal)
                .ToArray();
        }
        catch (QmpErrorException e) when (e.ErrorClass == "CommandNotFound")
        {
            // riscv64 on QEMU 7.2, among others: the models are then read from the QOM types.
            return null;
        }
    }

    private static Task<List<QmpObjectTypeInfo>> ListTypesAsync(QmpClient qmp, JsonObject arguments, CancellationToken ct)
        => qmp.ExecuteAsync("qom-list-types", arguments, QmpWireContext.Default.ListQmpObjectTypeInfo, cancellationToken: ct);

    private static async Task<(string Hash, string[] Commands)> ReadSchemaAsync(QmpClient qmp, CancellationToken ct)
    {
        var schema = await qmp.ExecuteAsync("query-qmp-schema", cancellationToken: ct).ConfigureAwait(false);
        var text = schema?.ToJsonString() ?? "null";
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text))).ToLowerInvariant();
        var entries = System.Text.Json.JsonSerializer.Deserialize(text, QmpWireContext.Default.ListQmpSchemaEntry) ?? [];
        var commands = entries.Where(e => e.MetaType == "command").Select(e => e.Name).Order(StringComparer.Ordinal).ToArray();
        return (hash, commands);
    }
}
