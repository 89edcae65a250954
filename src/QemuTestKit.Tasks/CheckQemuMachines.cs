using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Build.Framework;
using TaskItem = Microsoft.Build.Utilities.TaskItem;
using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;
using QemuTestKit.Machines.Manifest;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation;
using QemuTestKit.Tasks.Diagnostics;
using QemuTestKit.Tasks.Items;
using QemuTestKit.Tasks.Outputs;
using QemuTestKit.Tasks.Probes;

namespace QemuTestKit.Tasks;

/// <summary>
/// Reads the machine items of a project, introspects every distinct QEMU binary (through the shared catalog cache),
/// validates every machine against its binary's catalog and the host, and reports every problem at once as coded
/// errors located on the item and metadata. When all is well, writes each machine's spec and the intermediate
/// manifest, and returns what the prepare step needs.
/// </summary>
public sealed partial class CheckQemuMachines : QemuTestKitTask
{
    /// <summary>The <c>QemuMachine</c> items.</summary>
    [Required]
    public ITaskItem[] Machines { get; set; } = [];

    public ITaskItem[] Disks { get; set; } = [];

    public ITaskItem[] Nics { get; set; } = [];

    public ITaskItem[] Devices { get; set; } = [];

    /// <summary>The project file: relative paths are taken from its directory, and errors name it.</summary>
    [Required]
    public string ProjectFile { get; set; } = string.Empty;

    /// <summary>The build's configuration (Debug, Release...): the fixtures print it in the command that reruns a test.</summary>
    public string? Configuration { get; set; }

    /// <summary>The directory of the generated files: spec files, spec hash files, state directories, the intermediate manifest.</summary>
    [Required]
    public string StateRoot { get; set; } = string.Empty;

    /// <summary>Check the specs against the emulator (QTK1xxx); item errors (QTK2xxx) are reported either way.</summary>
    public bool Validate { get; set; } = true;

    /// <summary>Whether the build will prepare machines (QemuTestKitPrepare): decides which prepare inputs to return.</summary>
    public bool Prepare { get; set; } = true;

    /// <summary>Where the catalogs and probe results are cached; the default cache (<see cref="CatalogCache.DefaultDirectory"/>) when empty.</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>One item per machine (Include = name) with metadata SpecFile, HashFile, HashLine, StateDirectory,
    /// StateImage, Prepare, QemuBinary, QemuVersion, DefiningFile.</summary>
    [Output]
    public ITaskItem[] MachineStates { get; private set; } = [];

    /// <summary>The files each machine to prepare depends on (kernel, initrd, firmware, disks, spec hash file, QEMU binary),
    /// each with the metadata of its machine (Machine, SpecFile, StateDirectory, StateImage, DefiningFile) for target batching.</summary>
    [Output]
    public ITaskItem[] PrepareInputs { get; private set; } = [];

    /// <summary>The intermediate manifest written (copied to the output directory by the targets).</summary>
    [Output]
    public string ManifestFile { get; private set; } = string.Empty;

    protected override string ErrorFile => ProjectFile;

    protected override async Task<bool> ExecuteAsync(CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var reader = new ItemReader(ProjectFile);
        var machines = reader.Read(Machines, Disks, Nics, Devices);
        var diagnostics = reader.Diagnostics.ToList();
        foreach (var machine in machines.Where(m => m.Prepare && m.Spec.Ready.Pattern is null))
        {
            diagnostics.Add(Diagnostic.Of(TaskErrorCodes.PrepareNeedsReadyPattern, machine.Item, ItemTypes.MachineMetadata.ReadyPattern,
                "missing, but Prepare is true: the build saves the ready state when the console shows ReadyPattern, so set it (or set Prepare to false)"));
        }

        var needCatalogs = Validate || (Prepare && machines.Any(m => m.PreparedByBuild));
        var catalogs = needCatalogs ? await CatalogsAsync(machines, diagnostics, cancellationToken).ConfigureAwait(false) : [];
        if (Validate)
        {
            await ValidateAsync(machines, catalogs, diagnostics, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            CheckNames(machines, diagnostics);
        }

        foreach (var diagnostic in diagnostics)
        {
            Report(diagnostic);
        }

        Low($"QemuTestKit: checked {machines.Count} machine(s) in {stopwatch.Elapsed.TotalMilliseconds:0} ms");
        if (diagnostics.Any(d => d.IsError))
        {
            return false;
        }

        WriteOutputs(machines, catalogs);
        return true;
    }

    /// <summary>The catalog cache of this build (its directory, or the default), telling the build what it could not read.</summary>
    private CatalogCache Catalogs() =>
        new(string.IsNullOrEmpty(CacheDirectory) ? null : CacheDirectory, warn: message => Log.LogWarning("{0}", message));

    private async Task<Dictionary<string, QemuCatalog>> CatalogsAsync(IReadOnlyList<MachineDeclaration> machines, List<Diagnostic> diagnostics,
        CancellationToken cancellationToken)
    {
        var cache = Catalogs();
        var catalogs = new Dictionary<string, QemuCatalog>(StringComparer.Ordinal);
        foreach (var group in machines.GroupBy(m => m.Spec.QemuBinary, StringComparer.Ordinal))
        {
            try
            {
                var catalog = await cache.GetAsync(group.Key, cancellationToken).ConfigureAwait(false);
                catalogs[group.Key] = catalog;
                Low($"QemuTestKit: {group.Key} is QEMU {catalog.QemuVersion} at {catalog.Binary} (catalog from {catalog.Source})");
            }
            catch (QemuTestKitException e)
            {
                foreach (var machine in group)
                {
                    var (metadata, given) = (machine.Spec.Qemu, machine.Spec.Architecture) switch
                    {
                        ({ } qemu, _) => (ItemTypes.MachineMetadata.Qemu, $"'{qemu}'"),
                        (null, { } architecture) => (ItemTypes.MachineMetadata.Architecture, $"'{architecture}'"),
                        _ => (ItemTypes.MachineMetadata.Qemu, "not set, so the default"),
                    };
                    diagnostics.Add(Diagnostic.Of(TaskErrorCodes.QemuBinaryUnusable, machine.Item, metadata,
                        $"{given} gives no usable QEMU binary ({group.Key}): {e.Message}"));
                }
            }
        }

        return catalogs;
    }

    private async Task ValidateAsync(IReadOnlyList<MachineDeclaration> machines, Dictionary<string, QemuCatalog> catalogs, List<Diagnostic> diagnostics,
        CancellationToken cancellationToken)
    {
        var probes = new ProbeCache(string.IsNullOrEmpty(CacheDirectory) ? null : CacheDirectory);
        var images = Catalogs();
        var hostMemory = HostMemory.TotalMiB();
        var trees = new Dictionary<(string, string), MachineDeviceTree?>();
        foreach (var machine in machines)
        {
            if (!catalogs.TryGetValue(machine.Spec.QemuBinary, out var catalog))
            {
                continue;
            }

            var declared = catalog;
            var hostBuild = true;
            var imageUnseen = false;
            if (machine.Host == ItemTypes.Hosts.Container && machine.Image is { } image)
            {
                if (await images.TryGetImageCatalogAsync(image, cancellationToken).ConfigureAwait(false) is { } seen)
                {
                    hostBuild = seen.Entry.HostBinary is not null;
                    catalog = hostBuild ? catalog : seen.Catalog;
                    Low($"QemuTestKit: machine '{machine.Name}' is checked against the QEMU {seen.Catalog.QemuVersion} of image {image} (as a run last read it)");
                }
                else
                {
                    imageUnseen = true;
                    Low($"QemuTestKit: no run on this machine has read the QEMU of image {image} yet: machine '{machine.Name}' is checked against this host's QEMU {catalog.QemuVersion}, and its problems are warnings until then");
                }
            }

            MachineDeviceTree? tree = null;
            // The host's device tree, KVM and controller probes run the host's binary: they say nothing about another build's.
            if (hostBuild && catalog.FindMachine(machine.Spec.MachineType) is not null && !trees.TryGetValue((catalog.Binary, machine.Spec.MachineType), out tree))
            {
                tree = await probes.DeviceTreeAsync(catalog, machine.Spec.MachineType, Low, cancellationToken).ConfigureAwait(false);
                trees[(catalog.Binary, machine.Spec.MachineType)] = tree;
            }

            bool? kvm = null;
            if (hostBuild && machine.Spec.Accelerator == Accelerator.Kvm && catalog.Accelerators.Contains("kvm", StringComparer.Ordinal))
            {
                kvm = await probes.KvmUsableAsync(catalog, machine.Spec.Kernel, cancellationToken).ConfigureAwait(false);
            }

            Dictionary<string, IReadOnlyList<string>>? controllers = null;
            if (tree is not null)
            {
                controllers = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
                foreach (var type in MachineSpecValidator.ControllerCandidates(machine.Spec, catalog, tree))
                {
                    controllers[type] = await probes.ControllerBusesAsync(catalog, machine.Spec.MachineType, type, Low, cancellationToken).ConfigureAwait(false);
                }
            }

            // The image carries qemu-system-x86_64 only (eng/docker/build-image.sh): another target would start the
            // wrong emulator in the container and fail minutes later, in the test, with a QMP timeout.
            if (machine.Host == ItemTypes.Hosts.Container && declared.Target is { Length: > 0 } target && target != ItemTypes.Hosts.ContainerTarget)
            {
                diagnostics.Add(Diagnostic.Of(TaskErrorCodes.ArchitectureNotInImage, machine.Item, ItemTypes.MachineMetadata.Host,
                    $"{Path.GetFileName(declared.Binary)} emulates {target}, and a machine with Host=\"container\" runs the image's qemu-system-{ItemTypes.Hosts.ContainerTarget}, " +
                    $"the only emulator the image '{machine.Image}' carries: leave Host out to run it on this host ({QemuPackages.InstallHint(declared.Binary)})"));
            }

            var context = new ValidationContext { HostMemoryMiB = hostMemory, DeviceTree = tree, ControllerBuses = controllers, KvmUsable = kvm };
            foreach (var error in MachineSpecValidator.Validate(machine.Spec, catalog, context))
            {
                // A machine declared Record="false" is never recorded: that its recordings would not replay is moot.
                if (machine.Record == false && error.Code == MachineSpecErrorCodes.DoesNotReplay)
                {
                    continue;
                }

                if (SpecErrorMapper.Map(error, machine) is { } diagnostic)
                {
                    // Checked against another build than the one that will run it: the test start checks the image's own
                    // QEMU (ImageValidation), and this build must not fail for what that QEMU may well support.
                    diagnostics.Add(imageUnseen && diagnostic.IsError
                        ? diagnostic with
                        {
                            Severity = MachineSpecSeverity.Warning,
                            Text = $"{diagnostic.Text} (checked against this host's QEMU {catalog.QemuVersion}: no run has read image {machine.Image}'s QEMU yet, which the test start checks)",
                        }
                        : diagnostic);
                }
            }
        }
    }

    // The name becomes a directory under obj/: even unvalidated, it must be safe there (the validator's QTK1001 rule).
    private static void CheckNames(IReadOnlyList<MachineDeclaration> machines, List<Diagnostic> diagnostics)
    {
        foreach (var machine in machines.Where(m => !MachineNames.IsUsable(m.Name)))
        {
            diagnostics.Add(new Diagnostic(MachineSpecErrorCodes.InvalidName, MachineSpecSeverity.Error, machine.Item, ItemTypes.Include,
                $"'{machine.Name}' is not a usable machine name: {MachineNames.Rule}"));
        }
    }

    private void WriteOutputs(IReadOnlyList<MachineDeclaration> machines, Dictionary<string, QemuCatalog> catalogs)
    {
        var root = Path.GetFullPath(StateRoot);
        var states = new List<ITaskItem>();
        var inputs = new List<ITaskItem>();
        var manifest = new List<ManifestMachine>();
        foreach (var machine in machines)
        {
            var catalog = catalogs.GetValueOrDefault(machine.Spec.QemuBinary);
            var binary = catalog?.Binary ?? TryResolve(machine.Spec.QemuBinary);

            // What the tests, the ready state and every bundle read: with the binary's own architecture when none is declared.
            var spec = catalog is null ? machine.Spec : machine.Spec.WithTargetOf(catalog);
            var specFile = Path.Combine(root, $"{machine.Name}.spec.json");
            var hashFile = Path.Combine(root, $"{machine.Name}.spec.sha256");
            var stateDirectory = Path.Combine(root, machine.Name);
            var stateImage = Path.Combine(stateDirectory, "state.qcow2");
            var hash = ReadyState.HashOf(spec);
            StableFile.WriteIfDifferent(specFile, MachineSpecJson.Serialize(spec) + "\n");

            var state = new TaskItem(machine.Name);
            state.SetMetadata("SpecFile", specFile);
            state.SetMetadata("HashFile", hashFile);
            // Record="false" asks for a state for unrecorded runs: a change of it prepares the machine again.
            state.SetMetadata("HashLine", $"{hash} {Generator}{(machine.Record == false ? " unrecorded" : string.Empty)}");
            state.SetMetadata("StateDirectory", stateDirectory);
            state.SetMetadata("StateImage", stateImage);
            state.SetMetadata("Prepare", machine.PreparedByBuild ? "true" : "false");
            state.SetMetadata("QemuBinary", binary);
            state.SetMetadata("QemuVersion", catalog?.QemuVersion ?? string.Empty);
            state.SetMetadata("DefiningFile", machine.Item.DefiningFile);
            states.Add(state);
            manifest.Add(new ManifestMachine(machine.Name, binary, catalog?.QemuVersion, machine.Prepare,
                machine.PreparedByBuild ? stateDirectory : null, hash, machine.Host, machine.Image, machine.Record, spec));

            if (Prepare && machine.PreparedByBuild)
            {
                foreach (var file in machine.InputFiles().Append(hashFile).Append(binary).Distinct(StringComparer.Ordinal))
                {
                    var input = new TaskItem(file);
                    input.SetMetadata("Machine", machine.Name);
                    input.SetMetadata("SpecFile", specFile);
                    input.SetMetadata("StateDirectory", stateDirectory);
                    input.SetMetadata("StateImage", stateImage);
                    input.SetMetadata("Record", machine.Record == false ? "false" : string.Empty);
                    input.SetMetadata("DefiningFile", machine.Item.DefiningFile);
                    inputs.Add(input);
                }
            }
        }

        ManifestFile = Path.Combine(root, MachinesManifest.FileName);
        var content = MachinesManifestJson.Serialize(new MachinesManifest(MachinesManifest.CurrentSchemaVersion, Generator,
            Path.GetFullPath(ProjectFile), string.IsNullOrEmpty(Configuration) ? null : Configuration, manifest));
        if (StableFile.WriteIfDifferent(ManifestFile, content))
        {
            Normal($"QemuTestKit: wrote {ManifestFile}");
        }

        MachineStates = states.ToArray();
        PrepareInputs = inputs.ToArray();
    }

    private static string TryResolve(string binary)
    {
        try
        {
            return QemuBinary.Resolve(binary).Path;
        }
        catch (QemuBinaryNotFoundException)
        {
            return binary;
        }
    }

}
