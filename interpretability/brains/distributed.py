"""DDP that also works on CPU (gloo) for our Brains."""
from torch.nn.parallel import DistributedDataParallel


class CPUDistributedMixin:
    """SpeechBrain 1.1 converts every module to ``SyncBatchNorm`` under DDP, which only runs on GPUs, so
    ``torchrun`` on CPU fails. On CPU, wrap modules with plain DDP (batch-norm statistics stay per process);
    on GPUs keep SpeechBrain's behaviour."""

    def _wrap_distributed(self):
        if not self.distributed_launch or not str(self.device).startswith("cpu"):
            return super()._wrap_distributed()
        for name, module in self.modules.items():
            if any(p.requires_grad for p in module.parameters()):
                self.modules[name] = DistributedDataParallel(
                    module, device_ids=None, find_unused_parameters=self.find_unused_parameters
                )
